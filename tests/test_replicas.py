"""scripts/replicas.py: two replicas behind nginx, sticky sessions by cookie, the
websocket protocol through it. Skipped where nginx is not installed (.ci/run installs it)."""
import asyncio
import concurrent.futures
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import replicas  # noqa: E402

pytestmark = pytest.mark.skipif(replicas.find_nginx() is None,
                                reason="nginx is not installed (apt-get install -y nginx)")


@pytest.fixture(scope="module")
def two():
    r = replicas.Replicas(2)
    try:
        r.wait_ready(start_up_hook=False)  # no warm-ups compiling during the test
        yield r
    finally:
        r.stop()


def get(url: str, cookie: str | None = None) -> tuple[str, str]:
    """(the replica that answered, the affinity cookie nginx set)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as r:
        r.read()
        cookies = [c.split(";")[0] for c in r.headers.get_all("Set-Cookie") or []]
        return r.headers["X-Rnnviz-Upstream"], next(
            (c for c in cookies if c.startswith("rnnviz_replica=")), "")


def test_a_visitor_stays_on_the_replica_of_its_cookie(two):
    replica, cookie = get(two.url + "/")
    assert cookie.startswith("rnnviz_replica=") and len(cookie) > len("rnnviz_replica=")
    for path in ("/_stcore/health", "/Gradient_flow?cell=lstm", "/"):
        for _ in range(5):
            assert get(two.url + path, cookie) == (replica, cookie)
    # New visitors (no cookie yet) are spread over both replicas.
    seen = {get(two.url + "/_stcore/health")[0] for _ in range(40)}
    assert seen == {f"127.0.0.1:{s.port}" for s in two.servers}


def test_a_websocket_session_through_nginx_finishes_on_its_replica(two):
    import websockets
    from class_load import FINISHED_OK, Session

    replica, cookie = get(two.url + "/")

    async def session():
        url = two.url.replace("http", "ws") + "/_stcore/stream"
        async with websockets.connect(url, subprotocols=["streamlit"], max_size=None,
                                      additional_headers={"Cookie": cookie}) as ws:
            served_by = ws.response.headers["X-Rnnviz-Upstream"]
            s = Session(ws)

            def open_home(cs):
                cs.query_string, cs.page_name = "", ""

            first = await s.request(open_home, timeout=120)

            def rerun(cs):
                cs.query_string, cs.page_script_hash = s.query, s.page_hash

            second = await s.request(rerun, timeout=120)
            return served_by, first, second

    # In a thread of its own: Playwright's sync API (the browser tests, same process) may
    # leave an event loop set on the main thread, where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        served_by, first, second = pool.submit(asyncio.run, session()).result()
    assert served_by == replica
    for _, status, exceptions in (first, second):
        assert status == FINISHED_OK and exceptions == []
