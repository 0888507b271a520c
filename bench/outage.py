"""The serving path under attack and outage, on a real 3-member MongoDB replica set.

Starts a throw-away 3-member replica set on loopback (scripts/local_mongo.py), prepares it as
bench.pages does (migrate, the bundled data set, collectstatic) plus an admin account, serves
it with gunicorn exactly as the container does (2 workers x 4 threads) and runs bounded loads
on 127.0.0.1 from a second process, each phase with its baseline measured in the same run
against the same server:

1. Login flood: a cached character page read by 2 clients, alone (baseline) and while 8 clients
   post wrong admin passwords with valid CSRF tokens as fast as they are answered. Figures:
   the page's p50/p95 both ways and their ratio (target <= 2x), the attempts/s and their
   statuses (after MARVELSITE_LOGIN_FAILURES failures every attempt is a 429, unhashed).
2. Primary killed under load, with the page cache off (every page rendered from the database)
   and on: 8 clients read the list page, and the primary is SIGKILLed --kills times (default
   3), each in a window of its own (--failover-seconds) after the set has settled (the killed
   member restarted, a primary elected and steady). Figures per kill: requests after the kill,
   failed (%), the worst second (its share of failures), the longest time without a success;
   the load before the kill is the baseline (targets: <= 1% failed, no second > 10%).
3. Every member down: 16 clients, each alternating a page and /healthz. Figures: /healthz
   p50/p99/max with the database up (baseline), with every member stopped (target: p99 < 100 ms),
   and the same with the circuit breaker off (MARVELSITE_DB_BREAKER_SECONDS=0, a second gunicorn)
   to show what it buys; the pages' statuses and latency.

    .venv/bin/python -m bench.outage [--phase-seconds 10] [--failover-seconds 20]
        [--kills 3] [--phases flood,failover,down] [--code DIR]

--code DIR serves (and prepares) another checkout of the site with this bench, e.g. main's, for
a before/after comparison measured the same way.

Load goes to 127.0.0.1 only; every loop is bounded by a time limit (and each client's requests
by it); every server started is stopped by its pid.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from bench import harness
from bench.harness import HOST, Load, group, latencies, verdict
from bench.harness import percentile_ms as ms
from scripts.local_mongo import ReplicaSet

ADMIN_USER, ADMIN_PASSWORD = "admin", "bench-only-admin-pw-81"  # a throw-away server
FLOOD_RATIO, FAILED_PERCENT, WORST_SECOND_PERCENT, HEALTHZ_P99_MS = 2.0, 1.0, 10.0, 100.0


def flood_group(port, clients):
    """Wrong admin passwords with a valid CSRF cookie and token, as a browser (or a careful
    attacker) gets them."""
    conn = HTTPConnection(HOST, port, timeout=10)
    conn.request("GET", "/admin/login/", headers={"Host": HOST})
    response = conn.getresponse()
    html = response.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    conn.close()
    fields = {"csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": "wrong"}
    headers = {
        "Cookie": f"csrftoken={cookie}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    body = urlencode({**fields, "next": "/admin/"})
    return group("flood", ["/admin/login/"], clients, method="POST", body=body, headers=headers)


def statuses(records, kind):
    counts = {}
    for k, _, _, _, status in records:
        if k == kind:
            counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(counts.items()))


def longest_gap(records, since, until):
    """The longest time without a successful response in [since, until]."""
    ends = sorted(end for _, _, _, end, status in records if status == 200 and since <= end)
    marks = [since, *ends, until]
    return max(b - a for a, b in zip(marks, marks[1:], strict=False))


# --- phases -----------------------------------------------------------------------------------


def login_flood(port, info, seconds):
    page = [info["character"]]
    alone = Load(port, [group("page", page, 2)], seconds).records()
    flood = Load(port, [group("page", page, 2), flood_group(port, 8)], seconds).records()
    base50, base95 = ms(latencies(alone, "page"), 0.5), ms(latencies(alone, "page"), 0.95)
    flood50, flood95 = ms(latencies(flood, "page"), 0.5), ms(latencies(flood, "page"), 0.95)
    attempts = [r for r in flood if r[0] == "flood"]
    ratio = flood50 / base50
    print(f"\n== 1. login flood: cached page {page[0]} by 2 clients, {seconds:.0f}s each")
    print(f"  alone:          p50 {base50:6.1f} ms  p95 {base95:6.1f} ms  ({len(alone)} requests)")
    print(
        f"  during a flood: p50 {flood50:6.1f} ms  p95 {flood95:6.1f} ms  "
        f"({len(flood) - len(attempts)} requests)"
    )
    print(
        f"  flood: 8 clients, {len(attempts)} wrong-password attempts, "
        f"{len(attempts) / seconds:.0f}/s; statuses {statuses(flood, 'flood')}"
    )
    met = ratio <= FLOOD_RATIO
    print(f"  target p50 during / alone <= {FLOOD_RATIO}x: {ratio:.2f}x -> {verdict(met)}")
    return met


def percent_failed(rows) -> float:
    return 100 * sum(1 for r in rows if r[4] != 200) / max(1, len(rows))


def worst_second(rows, since) -> float:
    """The highest share of failures (%) among the whole seconds after `since`."""
    seconds: dict[int, list] = {}
    for row in rows:
        seconds.setdefault(int(row[3] - since), []).append(row)
    return max((percent_failed(bucket) for bucket in seconds.values()), default=0.0)


def settle(replica_set, steady=3.0, limit=90.0) -> int:
    """Wait until every member runs and the same primary has held for `steady` seconds (a
    restarted member with a higher priority takes the primary back first)."""
    deadline = time.monotonic() + limit
    primary, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = replica_set.primary_index()
        if now != primary:
            primary, since = now, time.monotonic()
        elif primary is not None and time.monotonic() - since >= steady:
            return primary
        time.sleep(0.25)
    raise SystemExit(f"the replica set did not settle within {limit:.0f}s")


def one_kill(port, replica_set, path, seconds):
    """8 clients on `path` for `seconds`; the primary SIGKILLed after a quarter of it."""
    kill_at = seconds / 4
    load = Load(port, [group("page", [path], 8)], seconds)
    time.sleep(max(0.0, kill_at - (time.monotonic() - load.started)))
    primary = replica_set.primary_index()
    killed_at = time.monotonic() - load.started
    replica_set.kill(primary, signal.SIGKILL)
    records = load.records()
    replica_set.start_member(primary)
    after = [r for r in records if r[3] >= killed_at]
    before = [r for r in records if r[3] < killed_at]
    return {
        "member": primary,
        "before": before,
        "after": after,
        "failed": percent_failed(after),
        "worst_second": worst_second(after, killed_at),
        "gap": longest_gap(after, killed_at, seconds),
        "statuses": statuses(after, "page"),
    }


def failover(env, workdir, info, replica_set, seconds, kills):
    path = "/characters/"
    print(
        f"\n== 2. primary killed under load: 8 clients on {path}, {kills} SIGKILLs of the "
        f"primary per setting, each in a {seconds:.0f}s window (kill after {seconds / 4:.0f}s)"
    )
    met = True
    for title, cache in (("page cache off", "0"), ("page cache on (60 s)", "60")):
        print(f"  -- {title} (MARVELSITE_PAGE_CACHE_SECONDS={cache})")
        with harness.serve({**env, "MARVELSITE_PAGE_CACHE_SECONDS": cache}, workdir) as port:
            log = workdir / f"gunicorn-{port}.log"
            for n in range(1, kills + 1):
                settle(replica_set)
                retried = log.read_text().count("read retried on")
                kill = one_kill(port, replica_set, path, seconds)
                retried = log.read_text().count("read retried on") - retried
                ok = kill["failed"] <= FAILED_PERCENT and kill["worst_second"] <= (
                    WORST_SECOND_PERCENT
                )
                met &= ok
                print(
                    f"  kill {n} (member {kill['member']}): before {len(kill['before'])} "
                    f"requests, {percent_failed(kill['before']):.2f}% failed | after "
                    f"{len(kill['after'])} requests, {kill['failed']:.2f}% failed, worst second "
                    f"{kill['worst_second']:.0f}% failed, longest gap {kill['gap']:.2f}s "
                    f"({kill['statuses']}; reads retried: {retried}) -> {verdict(ok)}"
                )
    print(
        f"  target per kill: <= {FAILED_PERCENT:g}% failed and no second with more than "
        f"{WORST_SECOND_PERCENT:g}% failed: {verdict(met)}"
    )
    settle(replica_set)
    return met


def probe_load(port, info, seconds):
    mixed = group("mixed", [info["character"], "/healthz"], 16)
    records = Load(port, [mixed], seconds, timeout=30).records()
    health = [(end - start) for _, path, start, end, s in records if path == "/healthz"]
    page = [(end - start) for _, path, start, end, s in records if path != "/healthz"]
    page_status = {}
    for _, path, _, _, status in records:
        if path != "/healthz":
            page_status[status] = page_status.get(status, 0) + 1
    ok = sum(1 for _, path, _, _, s in records if path == "/healthz" and s == 200)
    return {
        "healthz": health,
        "healthz_ok": ok,
        "page": page,
        "page_status": ", ".join(
            f"{k or 'no answer'}: {v}" for k, v in sorted(page_status.items())
        ),
    }


def every_member_down(env, workdir, info, replica_set, seconds):
    print(
        f"\n== 3. every member down: 16 clients, each alternating {info['character']} and "
        f"/healthz, {seconds:.0f}s each"
    )
    rows = []
    with harness.serve(env, workdir) as port:
        rows.append(("database up (baseline)", probe_load(port, info, seconds)))
        for index in range(replica_set.members):
            replica_set.kill(index, signal.SIGKILL)
        rows.append(("every member down", probe_load(port, info, seconds)))
    with harness.serve({**env, "MARVELSITE_DB_BREAKER_SECONDS": "0"}, workdir) as port:
        rows.append(("down, breaker off", probe_load(port, info, seconds)))
    print(
        f"  {'':<24} {'healthz p50':>11} {'p99':>8} {'max':>8} {'ok':>6} | "
        f"{'page p50':>9} {'p99':>8}  page statuses"
    )
    for title, row in rows:
        h, p = row["healthz"], row["page"]
        print(
            f"  {title:<24} {ms(h, 0.5):8.1f} ms {ms(h, 0.99):5.0f} ms {ms(h, 1.0):5.0f} ms "
            f"{row['healthz_ok']:>3}/{len(h):<3}| {ms(p, 0.5):6.1f} ms {ms(p, 0.99):5.0f} ms  "
            f"{row['page_status']}"
        )
    p99 = ms(rows[1][1]["healthz"], 0.99)
    met = p99 < HEALTHZ_P99_MS
    print(
        f"  target /healthz p99 < {HEALTHZ_P99_MS:.0f} ms with every member down: "
        f"{p99:.1f} ms -> {verdict(met)}"
    )
    return met


PHASES = ("flood", "failover", "down")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=10.0, help="each load (10)")
    parser.add_argument(
        "--failover-seconds", type=float, default=20.0, help="the load around each kill (20)"
    )
    parser.add_argument("--kills", type=int, default=3, help="kills per cache setting (3)")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"which of {','.join(PHASES)} (all)"
    )
    parser.add_argument("--code", type=Path, help="serve this checkout of the site instead")
    options = parser.parse_args()
    phases = options.phases.split(",")
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if options.code:
        harness.ROOT = options.code.resolve()  # manage.py and gunicorn run there
    workdir = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    env = harness.server_env(
        DJANGO_SUPERUSER_USERNAME=ADMIN_USER,
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        MARVELSITE_DATA_DIR=str(workdir),
        MONGODB_NAME="bench_outage",
    )
    try:
        with ReplicaSet(members=3) as replica_set:
            env["MONGODB_URI"] = replica_set.uri
            info = harness.prepare_site(env)
            harness.manage(env, "ensure_admin", stdout=subprocess.DEVNULL)
            commit = subprocess.run(
                ["git", "-C", str(harness.ROOT), "log", "-1", "--format=%h %s"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            print(f"code: {harness.ROOT} ({commit or 'no git'})")
            print(
                f"data: {info['characters']} characters, {info['comics']} comics, "
                f"{info['links']} links on a 3-member replica set on loopback "
                f"({info['server'].split(',')[0]})"
            )
            print(
                f"server: {harness.describe_server(env)}; load from a second process; "
                f"{os.cpu_count()} CPUs shared by all"
            )
            results = []
            if "flood" in phases:
                with harness.serve(env, workdir) as port:
                    results.append(login_flood(port, info, options.phase_seconds))
            if "failover" in phases:
                results.append(
                    failover(
                        env, workdir, info, replica_set, options.failover_seconds, options.kills
                    )
                )
            if "down" in phases:
                results.append(
                    every_member_down(env, workdir, info, replica_set, options.phase_seconds)
                )
        print(f"\ntargets met: {sum(results)} of {len(results)}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
