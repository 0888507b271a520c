"""The admin's changelists as a test reads them."""

import re

CHANGELIST = "/admin/characters/character/"
COMICS = "/admin/characters/comic/"


def result_names(response) -> list[str]:
    """Names in the changelist's result table (the linked name column)."""
    html = response.content.decode()
    if 'id="result_list"' not in html:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", html.split('id="result_list"', 1)[1], re.S)
    return [
        m.group(1) for row in rows if (m := re.search(r'class="field-name"><a [^>]*>([^<]*)<', row))
    ]
