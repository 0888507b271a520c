"""JSON no real response holds, written as text (json.dumps cannot write it either)."""

import json


def nested_too_deeply(levels: int = 5000) -> str:
    """A record's JSON deeper than the decoder reads, with brackets, quotes and escapes inside
    its strings (which must not count)."""
    inside = json.dumps('s"]}\\[{')
    return (
        '{"id": 7, "name": "Deep", "x": '
        + "[" * levels
        + inside
        + "]" * levels
        + f', "after": {json.dumps(chr(92) + chr(34) + "]}{[")}}}'
    )
