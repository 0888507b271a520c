"""The serving path when MongoDB members die: a real 3-member replica set of its own on loopback
(scripts/local_mongo.py) and the real gunicorn with the production settings.

- The primary killed: public pages keep answering from a secondary while no primary exists
  (the "reads" alias, primaryPreferred); the admin, on the primary, answers 503 until a new
  one is elected, then works again.
- Every member stopped: pages answer 503 with Retry-After, most of them refused by the circuit
  breaker without asking the database; /healthz answers every probe within the kubelet's
  timeout; when the members return, pages recover by themselves.

Run in the suite's MongoDB pass (it needs the bundled mongod, not the suite's database); the
figures (failed %, longest gap, /healthz p99) come from python -m bench.outage.
"""

import concurrent.futures
import re
import signal

import pytest

from tests.support.live_site import admin_session, get, served_site, wait_for

pytestmark = [pytest.mark.mongodb("failover, in the suite's MongoDB pass"), pytest.mark.slow]

PROBE_TIMEOUT = 5  # the kubelet's timeoutSeconds for /healthz (k8s/base/frontend.yaml)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(replica set, base URL, gunicorn's log), served as in the container, no page cache."""
    with served_site(tmp_path_factory.mktemp("outage"), members=3) as served:
        yield served.replica_set, served.base, served.log_path


def public_pages(base):
    html = get(base + "/characters/").text
    character = re.search(r'href="(/characters/\d+/[^"]+/)"', html).group(1)
    return ["/characters/", "/characters/?q=man", character]


def test_public_pages_read_from_a_secondary_while_the_primary_is_gone(site):
    replica_set, base, log_path = site
    admin = admin_session(base)
    changelist = base + "/admin/characters/character/"
    assert get(changelist, admin).status_code == 200
    urls = public_pages(base)
    primary = replica_set.primary_index()

    replica_set.kill(primary, signal.SIGKILL)
    answers = [get(base + url).status_code for url in urls * 2]
    # No primary was elected yet (elections wait 10 s for the old one): the pages were read
    # from a secondary.
    assert replica_set.primary_index() is None
    assert answers == [200] * len(answers), log_path.read_text()[-4000:]
    refused = get(changelist, admin)  # the admin reads from the primary only
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0

    replica_set.wait_for_primary(60)
    wait_for(lambda: get(changelist, admin).status_code == 200, 30)
    replica_set.start_member(primary)
    replica_set.wait_for_primary(60)


def test_every_member_down_pages_are_refused_at_once_and_probes_answer(site):
    replica_set, base, log_path = site
    urls = public_pages(base)
    failures_before = log_path.read_text().count("database unavailable on")
    for index in range(replica_set.members):
        replica_set.kill(index, signal.SIGKILL)

    def probe():
        return get(base + "/healthz", timeout=PROBE_TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        page_futures = [pool.submit(get, base + urls[n % len(urls)]) for n in range(16)]
        probe_futures = [pool.submit(probe) for _ in range(16)]
        # A probe that takes longer than the kubelet waits raises (ReadTimeout) here.
        assert [f.result() for f in probe_futures] == [200] * 16
        pages = [f.result() for f in page_futures]
    pages += [get(base + urls[n % len(urls)]) for n in range(30)]
    assert {page.status_code for page in pages} == {503}
    assert all(int(page.headers["Retry-After"]) > 0 for page in pages)
    assert "The site is temporarily unavailable" in pages[-1].text
    ready = get(base + "/readyz")
    assert ready.status_code == 503
    # Each failure that reached the database logged one line; the rest were refused at once.
    failures = log_path.read_text().count("database unavailable on") - failures_before
    assert 1 <= failures < len(pages) / 2, failures

    for index in range(replica_set.members):
        replica_set.start_member(index)
    replica_set.wait_for_primary(60)
    wait_for(lambda: all(get(base + url).status_code == 200 for url in urls), 60)
