"""characters/ingest/lock.py: one import at a time, a killed one blocking nobody for long.

The whole command under real concurrency (two seed_marvel processes, kill -9): test_seed_runs.py.
"""

import datetime as dt
import socket
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from characters.ingest.lock import ImportLockLost, ImportRunning, import_lock
from characters.models import ImportLock

pytestmark = pytest.mark.django_db(transaction=True)


def eventually(condition, seconds=15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_second_import_waits_then_says_who_runs_since_when():
    waits = []
    second = import_lock(wait=0.5, on_wait=waits.append)
    with import_lock(wait=0), pytest.raises(ImportRunning) as refused:
        second.__enter__()
    message = str(refused.value)
    assert message.startswith("another import is running since ")
    assert f"({socket.gethostname()}, pid " in message
    assert message.endswith("; waited 0.5s (--lock-wait)")
    assert len(waits) == 1
    assert waits[0].startswith("another import is running since ")
    assert waits[0].endswith("s for it to finish")
    assert not ImportLock.objects.exists()  # released


def test_the_waiting_import_goes_once_the_first_is_done():
    first = import_lock(wait=0)
    first.__enter__()
    order = []

    def finish_first(message):
        order.append("waiting")
        first.__exit__(None, None, None)

    with import_lock(wait=30, on_wait=finish_first):
        order.append("second holds it")
    assert order == ["waiting", "second holds it"]


def test_a_lock_without_heartbeat_is_taken_over_at_once():
    old = timezone.now() - dt.timedelta(minutes=5)
    ImportLock.objects.create(
        id=1, token="gone", host="seed-marvel-pod", pid=1, started_at=old, heartbeat_at=old
    )
    waits = []
    with import_lock(wait=0, on_wait=waits.append) as held:
        assert ImportLock.objects.get().token == held.token
        # What it replaced: its unfinished transaction may hold documents a while (seed.py).
        assert abs((held.replaced - old).total_seconds()) < 0.01
    assert len(waits) == 1
    assert waits[0].startswith("took over the import lock of an import that stopped since ")
    assert "(seed-marvel-pod, pid 1; last heartbeat 30" in waits[0]


def test_a_dead_holder_on_this_host_is_taken_over_at_once():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = timezone.now()
    ImportLock.objects.create(
        id=1,
        token="killed",
        host=socket.gethostname(),
        pid=dead.pid,
        started_at=now,
        heartbeat_at=now,
    )
    with import_lock(wait=0) as held:
        assert ImportLock.objects.get().token == held.token
        assert held.replaced is not None


def test_the_heartbeat_keeps_the_lock_fresh_and_notices_a_takeover():
    with import_lock(wait=0, heartbeat_seconds=0.05) as held:
        assert held.replaced is None  # a fresh lock
        first = ImportLock.objects.get().heartbeat_at
        assert eventually(lambda: ImportLock.objects.get().heartbeat_at > first)
        held.check()  # still ours
        ImportLock.objects.filter(id=1).update(token="another import")
        assert eventually(lambda: held._lost.is_set())
        with pytest.raises(ImportLockLost, match="taken over by another import"):
            held.check()
    # Not ours any more: left to its new holder.
    assert ImportLock.objects.get().token == "another import"
