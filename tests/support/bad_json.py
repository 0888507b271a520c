"""JSON no real response holds, written as text (json.dumps cannot write it either)."""

import json


def nested_too_deeply(levels: int = 25_000) -> str:
    """A record's JSON deeper than Python's decoder reads (arrays and objects in turn, twice
    `levels` deep: past the limits of the Pythons this runs on, which the tests check), with
    brackets, quotes and escapes inside its strings, which must not count."""
    inside = json.dumps('s"]}\\[{')
    return (
        '{"id": 7, "name": "Deep", "x": '
        + '[{"k": ' * levels
        + inside
        + "}]" * levels
        + f', "after": {json.dumps(chr(92) + chr(34) + "]}{[")}}}'
    )
