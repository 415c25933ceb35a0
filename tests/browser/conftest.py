"""A real browser against a real server: Playwright drives Debian's Chromium.

Locally the browser tests skip when Chromium is missing; in CI (CI=true) that is a failure.
Test tools cannot download their own browser here, so we point Playwright at /usr/bin/chromium.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium tries to reach Google's hosts and this machine's network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("RNNVIZ_SCREENSHOTS", ROOT / "tests" / "browser" / "_shots"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_missing() -> bool:
    if not Path(CHROMIUM).exists():
        return True
    try:
        import playwright  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.fixture(scope="session")
def server():
    """A fresh `streamlit run app.py` on 127.0.0.1; yields its base URL, stops it after."""
    if _browser_missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Chromium at {CHROMIUM} and the playwright package")
        pytest.skip("no Chromium installed (apt-get install chromium)")
    port = _free_port()
    log = open(ROOT / "tests" / "browser" / "_server.log", "w")
    # Without the warm-up: on two cores shared with Chromium's full-page screenshots, its
    # background compiles (nice 19, holding Python's lock while they trace) stretched over
    # the whole browser run (281 s against 23 s on an idle server) and held a page's rerun
    # back for over 90 s in some runs (a slider move, a Remove click). These tests check
    # what pages show; the warm-up and what a class waits for are measured by
    # scripts/class_load.py and tested in tests/test_programs.py.
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "RNNVIZ_WARM_UP": "0"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit server did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1500})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    context.close()


def wait_for_app(pg, charts: int = 0) -> None:
    """Wait until the script ran (the page has content and is not running) and at least
    `charts` Plotly charts are drawn. (Right after loading, before the first run starts,
    nothing is running either: an empty page is not a finished one.) Not running is what
    the app itself says (stApp's data-test-script-state, as Streamlit's own tests read
    it): its status widget only appears once a run has lasted 500 ms."""
    pg.wait_for_selector('[data-testid="stApp"]')
    pg.wait_for_selector('[data-testid="stMainBlockContainer"] [data-testid="stHeading"],'
                         ' [data-testid="stMainBlockContainer"] h3,'
                         ' [data-testid="stMainBlockContainer"] h4')
    pg.wait_for_function(
        """n => {
            const app = document.querySelector('[data-testid="stApp"]');
            const running = app.getAttribute('data-test-script-state') !== 'notRunning'
                || document.querySelector(
                    '[data-testid="stStatusWidget"], [data-testid="stSpinner"]');
            const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .filter(e => e.querySelector('.main-svg')).length;  // each has several
            return !running && plots >= n;
        }""",
        arg=charts,
    )
    # What the last messages changed, painted: two animation frames, and a little more.
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    pg.wait_for_timeout(100)


def settle(pg, locator, quiet_ms: int = 300, within_ms: int = 10_000) -> None:
    """Wait until `locator`'s box has not moved or changed size for `quiet_ms` (e.g. an
    expander, which grows to its height over about 500 ms once opened)."""
    last, since, waited = None, 0, 0
    while waited < within_ms:
        box = locator.bounding_box()
        if box != last:
            last, since = box, waited
        elif waited - since >= quiet_ms:
            return
        pg.wait_for_timeout(50)
        waited += 50


def shot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
