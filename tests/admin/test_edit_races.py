"""Admin saves that land inside an import's pages, with real processes on both backends: a
gunicorn serving the real admin, editors as HTTP clients (sessions, CSRF), and `seed_marvel`
reading a replay of the Marvel API that rewrites every description, one slow page at a time.

For each page the database's writes are held (tests/support/live_site.py, WriteFreeze) while
the import has read the page and waits to write it; the editors then save new descriptions of
that page's characters, and the writes are let go together: whichever commits first, an
acknowledged edit (a 302) must be what the row holds at the end.
"""

import concurrent.futures
import copy
import gzip
import json
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from characters.ingest.recordings import BUNDLED_DATASET
from tests.support.live_site import Editor, WriteFreeze, gunicorn, prepare, read_rows, site_env
from tests.support.manage import ROOT, clean_env
from tests.support.replay_server import ReplayServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PAGE = 10
PAGES = 6
EDITORS = 8  # per page: 48 saves timed into page transactions
PAGE_DELAY = 1.5  # seconds the replay server takes per page: time to hold the writes
PUBLIC, PRIVATE = "race-public", "race-private"


@pytest.fixture(scope="module")
def raw_records():
    raw = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
    return raw[: PAGE * PAGES]


def start_import(workdir, env, base_url) -> tuple[subprocess.Popen, queue.Queue]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "seed_marvel", "--source", "api", "--page-size", str(PAGE)],
        cwd=ROOT,
        env=clean_env(
            workdir,
            **env,
            MARVEL_PUBLIC_KEY=PUBLIC,
            MARVEL_PRIVATE_KEY=PRIVATE,
            MARVEL_API_BASE_URL=base_url,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = queue.Queue()

    def read():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def wait_for_line(lines: queue.Queue, start: str, process) -> str:
    while True:
        line = lines.get(timeout=120)
        if line is None:
            raise AssertionError(f"the import ended early: {process.stderr.read()[-3000:]}")
        if line.startswith(start):
            return line


def wait_for_request(server: ReplayServer, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(server.requests) < count:
        assert time.monotonic() < deadline, "the import never asked for its page"
        time.sleep(0.02)


def test_no_acknowledged_edit_is_lost_to_an_import(tmp_path, raw_records):
    mongodb_uri = settings.DATABASES["default"]["HOST"] if connection.vendor == "mongodb" else None
    env = site_env(tmp_path, mongodb_uri)
    on_sqlite = mongodb_uri is None
    original = tmp_path / "original.json"
    original.write_text(json.dumps(raw_records))
    prepare(tmp_path, env, seed=("--path", str(original), "-v0"))
    newer = copy.deepcopy(raw_records)
    for record in newer:
        record["description"] = f"Marvel's newer text of {record['id']}"

    acknowledged, refused, other = {}, {}, []
    freeze = WriteFreeze(tmp_path, env)
    with (
        gunicorn(tmp_path, env) as base,
        ReplayServer(newer, public_key=PUBLIC, private_key=PRIVATE) as replay,
        concurrent.futures.ThreadPoolExecutor(EDITORS) as pool,
    ):
        editors = [Editor(base) for _ in range(EDITORS)]
        replay.fail("slow", times=PAGES + 1, delay=PAGE_DELAY)
        process, lines = start_import(tmp_path, env, replay.base_url)

        def save_all(ids, forms, texts):
            return [
                pool.submit(editor.save, pk, form, description=text)
                for editor, pk, form, text in zip(editors, ids, forms, texts, strict=True)
            ]

        try:
            for number in range(PAGES):
                wait_for_request(replay, number + 1)
                with freeze:
                    # The page arrives, is read and planned; its write waits for the freeze.
                    time.sleep(PAGE_DELAY + 0.7)
                    ids = [r["id"] for r in raw_records[number * PAGE : number * PAGE + EDITORS]]
                    forms = [editor.open(pk) for editor, pk in zip(editors, ids, strict=True)]
                    texts = [f"Edited here: {pk}" for pk in ids]
                    if on_sqlite:
                        # Stopped while it waits for the write lock: every save below commits
                        # between the page's reads and its write transaction.
                        process.send_signal(signal.SIGSTOP)
                    else:
                        saves = save_all(ids, forms, texts)
                        time.sleep(0.7)  # every save is waiting for the database too
                if on_sqlite:
                    saves = save_all(ids, forms, texts)
                    concurrent.futures.wait(saves, timeout=120)
                    process.send_signal(signal.SIGCONT)
                for pk, text, save in zip(ids, texts, saves, strict=True):
                    answer = save.result(timeout=120)
                    if answer.status_code == 302:
                        acknowledged[pk] = text
                    elif answer.status_code == 200 and "changed by someone else" in answer.text:
                        refused[pk] = text
                    else:
                        other.append((pk, answer.status_code, answer.text[:300]))
                wait_for_line(lines, f"page {number + 1}:", process)
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err[-3000:]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            freeze.close()

    stored = read_rows(tmp_path, env, [r["id"] for r in raw_records])
    lost = {pk: stored[pk]["description"] for pk, text in acknowledged.items()}
    lost = {pk: now for pk, now in lost.items() if now != acknowledged[pk]}
    figures = (
        f"{len(acknowledged)} acknowledged, {len(lost)} lost, {len(refused)} shown a conflict, "
        f"{len(other)} other"
    )
    print(f"\nedits inside import pages ({connection.vendor}): {figures}")
    assert not other, other
    assert not lost, figures
    assert len(acknowledged) + len(refused) == PAGES * EDITORS
    assert len(acknowledged) >= 24, figures
    for pk in acknowledged:
        assert stored[pk]["local_edits"] == {"description": f"Marvel's newer text of {pk}"}
    for record in raw_records:  # everything else is Marvel's newer text
        if record["id"] not in acknowledged:
            assert stored[record["id"]]["description"] == f"Marvel's newer text of {record['id']}"
    if connection.vendor == "mongodb":
        connection.connection.drop_database(env["MONGODB_NAME"])
