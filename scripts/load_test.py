"""Browser smoke test of rnnviz under load: N Chromium sessions moving sliders at once.

A smoke test only: on a 2-core machine the browsers use several times the server's CPU, so
its times measure the box more than the server. The class figures come from
scripts/class_load.py (Streamlit's websocket protocol, no browsers); this script checks
what only a browser shows (charts drawn, no exception on the page, sessions isolated).

Usage:
  python scripts/load_test.py                          # 20 sessions x 10 slider moves
  python scripts/load_test.py --sessions 5 --moves 4   # smaller
  python scripts/load_test.py --timeout 600            # global time limit (s), default 540

What it does:
1. Starts its own `streamlit run app.py` on 127.0.0.1 at a free port (through a tiny
   wrapper that registers a jax.monitoring listener, so the server's XLA compilations are
   logged; `--plain-server` starts `python -m streamlit run` itself, without the log).
2. Launches one headless Chromium (Debian's /usr/bin/chromium, as tests/browser) and opens
   N browser contexts (separate cookies, so separate Streamlit sessions), spread over the
   Gradient flow, Compare cells, Gate activations, Why it vanishes, Connectivity and Deep
   & bidirectional pages,
   with different cells, lengths and seeds in the URL. All sessions open their page at
   once; when every page has rendered (a barrier; `--no-barrier` to skip it), each moves
   sliders with the keyboard on the slider thumb, alternating the sequence-length slider
   and the gain slider (ArrowRight, as tests/browser/test_gradient_flow_browser.py), with
   `--think` seconds between moves.
3. A move's response time runs from the keypress until the app is idle again (no "running"
   status widget) and the Plotly data on the page differ from before the keypress (a
   checksum of every trace's x/y/z). It includes Streamlit's slider debounce in the
   browser, the network round trip, the rerun on the server and the browser drawing.
4. Errors: exceptions shown on the page (stException), uncaught page errors in the
   browser, timeouts (`--move-timeout`) and failed loads. Target 0.
5. Memory: a thread polls /proc/<pid>/status of the server process and its children
   every 0.1 s (VmRSS summed over the tree; VmHWM, the kernel's own peak, per process).
   Target < 600 MB. CPU seconds of the server and of the browser are read from /proc too:
   on a 2-core machine the browser competes with the server, which the table shows.
6. Isolation check: two more contexts on the Gradient flow page with different settings
   move the length slider alternately, then at the same time; each must keep its own URL,
   cell and curve length.
The server is stopped at the end (also on timeout or error). Prints one table.
"""
import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from app_server import ROOT, changed_sources, free_port, source_mtimes
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/browser/conftest.py
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MEMORY_TARGET_MB = 690.0  # the smallest memory Streamlit Community Cloud grants an app
P95_TARGET_S = 1.0

# (URL path, minimum number of Plotly charts once rendered, settings per variant)
SCENARIOS = (
    ("Gradient_flow", 2, ({"cell": "rnn"}, {"cell": "lstm", "forget_bias": "3.0"},
                          {"cell": "gru"}, {"cell": "rnn", "init": "pytorch"})),
    ("Compare_cells", 4, ({}, {"init": "glorot"}, {"gain": "0.9"}, {"inputs": "sine"})),
    ("Gate_activations", 1, ({"cell": "lstm"}, {"cell": "gru"}, {"cell": "lstm", "H": "16"},
                             {"cell": "gru", "update_bias": "2.0"})),
    ("Why_it_vanishes", 3, ({"cell": "rnn"}, {"cell": "lstm"}, {"cell": "gru"},
                            {"cell": "rnn", "gain": "0.95"})),
    ("Connectivity", 2, ({"cell": "gru"}, {"cell": "rnn"}, {"cell": "lstm"},
                         {"cell": "rnn", "init": "identity"})),
    ("Deep_bidirectional", 3, ({}, {"cell": "lstm", "layers": "3", "bidirectional": "false"},
                               {"cell": "gru"}, {"cell": "rnn", "read": "middle"})),
)
START_T = (60, 100, 120, 200, 250, 80)  # some sessions' moves cross a length bucket (64)
SLIDERS = ("Sequence length T", "Gain on W_hh")

# A checksum of the Plotly data on the page: trace lengths and weighted sums of the first
# values of x, y and of three rows of z. Any new result (length or values) changes it.
SIGNATURE_JS = """() => {
    const out = [];
    const add = (a, acc) => {
        if (!a || typeof a.length !== 'number') return;
        acc.n += a.length;
        const m = Math.min(a.length, 64);
        for (let i = 0; i < m; i++) {
            const v = a[i];
            if (typeof v === 'number' && isFinite(v)) acc.s += v * (i + 1);
            else if (v && typeof v === 'object' && typeof v.length === 'number') add(v, acc);
        }
    };
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        for (const t of (gd._fullData || [])) {
            const acc = {n: 0, s: 0};
            add(t.x, acc); add(t.y, acc);
            const z = t.z;
            if (z && z.length) {
                acc.n += z.length;
                for (const r of [z[0], z[z.length >> 1], z[z.length - 1]]) add(r, acc);
            }
            out.push(acc.n + ':' + acc.s.toPrecision(12));
        }
    }
    return out.join('|');
}"""
IDLE_JS = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
RENDERED_JS = ("n => !!document.querySelector('[data-testid=\"stApp\"]') && " + IDLE_JS
               + " && document.querySelectorAll('.js-plotly-plot .main-svg').length >= n")
CHANGED_JS = ("before => " + IDLE_JS + " && (" + SIGNATURE_JS + ")() !== before")

# The server, through a wrapper that logs every XLA backend compile (time, seconds, name).
SERVER_WRAPPER = """
import gc, os, sys, time
from jax import monitoring
log = open(os.environ["RNNVIZ_COMPILE_LOG"], "a", buffering=1)
def listen(event, seconds, **kw):
    if event == "/jax/core/compile/backend_compile_duration":
        log.write(f"{time.time():.3f}\\t{seconds:.4f}\\tcompile\\t{kw.get('fun_name')}\\n")
monitoring.register_event_duration_secs_listener(listen)
# Diagnostics only: time each script run, and the gc.collect(2) Streamlit runs after it
# (runner.postScriptGC). Private names; if they move, the server runs unwrapped.
try:
    from streamlit.runtime.scriptrunner import script_runner as sr
    _exec = sr.exec_func_with_error_handling
    def timed_exec(func, ctx):
        t0 = time.perf_counter()
        try:
            return _exec(func, ctx)
        finally:
            log.write(f"{time.time():.3f}\\t{time.perf_counter() - t0:.4f}\\tscript\\t-\\n")
    sr.exec_func_with_error_handling = timed_exec
    class TimedGC:
        def __getattr__(self, name):
            return getattr(gc, name)
        def collect(self, *args):
            t0 = time.perf_counter()
            try:
                return gc.collect(*args)
            finally:
                log.write(f"{time.time():.3f}\\t{time.perf_counter() - t0:.4f}\\tgc\\t-\\n")
    sr.gc = TimedGC()
except Exception as e:
    print("load_test wrapper: no script timing:", e, file=sys.stderr)
from streamlit.web.cli import main
sys.argv = ["streamlit"] + sys.argv[1:]
main(prog_name="streamlit")
"""


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# --- /proc ------------------------------------------------------------------------------------

def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid, kids=None):
    kids = kids if kids is not None else children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kb(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return total


class MemoryMonitor(threading.Thread):
    """Polls the server's process tree: peak summed VmRSS, and VmHWM per process."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb, self.hwm_kb, self.samples = 0, {}, 0
        self.stop_event = threading.Event()

    def sample(self):
        pids = process_tree(self.pid)
        rss = sum(status_kb(p, "VmRSS") for p in pids)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        for p in pids:
            self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), status_kb(p, "VmHWM"))
        self.samples += 1
        return rss

    def run(self):
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)


# --- server -------------------------------------------------------------------------------------

class Server:
    def __init__(self, plain=False, extra_args=(), extra_env=(), cpus=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="rnnviz_load_test_"))
        self.compile_log = self.dir / "compiles.tsv"
        self.compile_log.write_text("")
        self.log = open(self.dir / "server.log", "w")
        args = ["run", "app.py", "--server.port", str(self.port),
                "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args]
        cmd = ([sys.executable, "-m", "streamlit"] if plain
               else [sys.executable, "-c", SERVER_WRAPPER]) + args
        if cpus:
            cmd = ["taskset", "-c", cpus] + cmd
        env = {**os.environ, "RNNVIZ_COMPILE_LOG": str(self.compile_log),
               **dict(kv.split("=", 1) for kv in extra_env)}
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.dir / 'server.log'}")
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).status == 200:
                    return time.time() - self.t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not healthy within {timeout} s")

    def events(self, kind, since=0.0, until=float("inf")):
        """(time, seconds, name) of the server's logged events: compile, script or gc."""
        rows = []
        for line in self.compile_log.read_text().splitlines():
            t, seconds, k, name = line.split("\t")
            if k == kind and since <= float(t) <= until:
                rows.append((float(t), float(seconds), name))
        return rows

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- sessions -------------------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.loads, self.moves = [], []  # seconds
        self.moves_by_slider = {s: [] for s in SLIDERS}
        self.moves_by_page = {}
        self.parts = []  # (keypress -> request sent, -> last reply frame, -> drawn and idle)
        self.errors = []  # (session, what)
        self.page_errors = 0
        self.sessions_done = 0
        self.t_moves_start = None
        self.repeated_presses = 0  # keypresses that did not move the thumb, repeated


def session_plan(i):
    path, charts, variants = SCENARIOS[i % len(SCENARIOS)]
    round_ = i // len(SCENARIOS)
    query = {"T": str(START_T[(i + round_) % len(START_T)]), "seed": str(i),
             **variants[round_ % len(variants)]}
    return path, charts, query


async def count_exceptions(page):
    return await page.locator('[data-testid="stException"]').count()


class Frames:
    """Times of the Streamlit websocket frames of one page (sent: BackMsg, received: ForwardMsg)."""

    def __init__(self, page):
        self.sent, self.received = [], []
        page.on("websocket", self._attach)

    def _attach(self, ws):
        if "_stcore/stream" in ws.url:
            ws.on("framesent", lambda _: self.sent.append(time.perf_counter()))
            ws.on("framereceived", lambda _: self.received.append(time.perf_counter()))

    def split(self, t0, t1):
        """(keypress -> first frame sent, -> last frame received, -> drawn), or None."""
        sent = [t for t in self.sent if t0 <= t <= t1]
        got = [t for t in self.received if sent and sent[0] <= t <= t1]
        if not sent or not got:
            return None
        return sent[0] - t0, got[-1] - sent[0], t1 - got[-1]


VALUE_MOVED_JS = "([el, v]) => !el.isConnected || el.value !== v"


async def move_once(page, label, key, timeout_ms, frames=None, res=None):
    """Press `key` on the slider `label`; seconds until idle with new chart data.

    If the thumb's value did not change within 10 s (the keypress landed while Streamlit
    re-rendered the sidebar and the focus was lost: a test artefact, not an app error), the
    press is repeated once and timed from the repeat. The page is polled every 50 ms; the
    checksum is computed only once the page is idle.
    """
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    for attempt in range(2):
        await thumb.focus()
        handle = await thumb.element_handle()
        value = await handle.evaluate("e => e.value")  # an <input type=range>
        before = await page.evaluate(SIGNATURE_JS)
        t0 = time.perf_counter()
        await thumb.press(key)
        try:
            await page.wait_for_function(VALUE_MOVED_JS, arg=[handle, value], polling=50,
                                         timeout=min(10_000, timeout_ms))
            break
        except Exception:
            if attempt == 1:
                raise
            if res is not None:
                res.repeated_presses += 1
    await page.wait_for_function(CHANGED_JS, arg=before, polling=50, timeout=timeout_ms)
    t1 = time.perf_counter()
    return t1 - t0, (frames.split(t0, t1) if frames else None)


async def page_state(page, label):
    """What the page shows after a failed move: the slider value, running or idle, URL."""
    try:
        return await page.evaluate(
            """label => {
                const s = [...document.querySelectorAll('[data-testid="stSlider"]')]
                    .find(e => e.innerText.includes(label));
                const input = s && s.querySelector('input');
                return `slider ${input ? input.value : '?'}, ` +
                    (document.querySelector('[data-testid="stStatusWidget"]') ? 'running'
                                                                             : 'idle') +
                    `, URL ${window.location.search}`;
            }""", label)
    except Exception as e:
        return f"state unknown: {type(e).__name__}"


async def run_session(i, browser, base, args, res, barrier):
    path, charts, query = session_plan(i)
    url = f"{base}/{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    name = f"s{i:02d} {path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        page = await context.new_page()
        frames = Frames(page)

        def on_error(exc):
            res.page_errors += 1
            res.errors.append((name, f"page error: {str(exc)[:120]}"))

        page.on("pageerror", on_error)
        loaded = False
        try:
            t0 = time.perf_counter()
            await page.goto(url, timeout=args.load_timeout * 1000)
            await page.wait_for_function(RENDERED_JS, arg=charts, polling=50,
                                         timeout=args.load_timeout * 1000)
            res.loads.append(time.perf_counter() - t0)
            loaded = True
            if await count_exceptions(page):
                res.errors.append((name, "exception on the page after load"))
        except Exception as e:
            res.errors.append((name, f"load failed: {type(e).__name__}: {str(e)[:100]}"))
        if barrier is not None:
            await barrier.wait()
            await asyncio.sleep(args.settle)
            res.t_moves_start = res.t_moves_start or time.time()
        if not loaded:
            return
        rng = random.Random(i)
        for m in range(args.moves):
            label = SLIDERS[m % len(SLIDERS)]
            await asyncio.sleep(args.think * (0.5 + rng.random()))
            try:
                dt, parts = await move_once(page, label, "ArrowRight", args.move_timeout * 1000,
                                            frames, res)
                res.moves.append(dt)
                if parts:
                    res.parts.append(parts)
                res.moves_by_slider[label].append(dt)
                res.moves_by_page.setdefault(path, []).append(dt)
            except Exception as e:  # a timeout is a result: say what the page showed
                first_line = str(e).splitlines()[0][:100] if str(e) else ""
                res.errors.append((name, f"move {m} ({label}): {type(e).__name__}: {first_line}"
                                         f" [{await page_state(page, label)}]"))
            if await count_exceptions(page):
                res.errors.append((name, f"exception on the page after move {m}"))
                break
        res.sessions_done += 1
    finally:
        await context.close()


class Barrier:
    """asyncio.Barrier for Python < 3.11 compatibility, tolerant of failed sessions."""

    def __init__(self, n):
        self.n, self.count, self.event = n, 0, asyncio.Event()

    async def wait(self):
        self.count += 1
        if self.count >= self.n:
            self.event.set()
        await self.event.wait()


async def isolation_check(browser, base, timeout_ms):
    """Two sessions, different settings, interleaved moves: each keeps its own state."""
    specs = {"A": {"cell": "rnn", "T": 40, "seed": 11}, "B": {"cell": "lstm", "T": 300, "seed": 22}}
    pages, contexts, problems = {}, [], []
    try:
        for key, s in specs.items():
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1100})
            contexts.append(ctx)
            pg = await ctx.new_page()
            await pg.goto(f"{base}/Gradient_flow?cell={s['cell']}&T={s['T']}&seed={s['seed']}")
            await pg.wait_for_function(RENDERED_JS, arg=2, polling=50, timeout=timeout_ms)
            pages[key] = pg
        expected = {k: s["T"] for k, s in specs.items()}
        # interleaved: A, B, A, B, A, B; then both at once, twice
        for key in "ABABAB":
            await move_once(pages[key], "Sequence length T", "ArrowRight", timeout_ms)
            expected[key] += 1
        for _ in range(2):
            await asyncio.gather(*(move_once(pages[k], "Sequence length T", "ArrowRight",
                                             timeout_ms) for k in "AB"))
            for k in "AB":
                expected[k] += 1
        for key, s in specs.items():
            pg = pages[key]
            search = await pg.evaluate("() => window.location.search")
            length = await pg.evaluate(
                "() => document.querySelectorAll('.js-plotly-plot')[0]._fullData[0].y.length")
            sidebar = await pg.locator('[data-testid="stSidebar"]').inner_text()
            if f"T={expected[key]}" not in search or f"cell={s['cell']}" not in search:
                problems.append(f"{key}: URL {search} (expected T={expected[key]}, "
                                f"cell={s['cell']})")
            if length != expected[key]:
                problems.append(f"{key}: curve has {length} points, expected {expected[key]}")
            if (s["cell"] == "lstm") != ("Forget-gate bias" in sidebar):
                problems.append(f"{key}: sidebar does not match cell {s['cell']}")
            if await count_exceptions(pg):
                problems.append(f"{key}: exception on the page")
        return problems, {k: expected[k] for k in specs}
    except Exception as e:
        return problems + [f"isolation check failed: {type(e).__name__}: {str(e)[:150]}"], {}
    finally:
        for ctx in contexts:
            await ctx.close()


# --- main -------------------------------------------------------------------------------------------

async def load(args, server, res, report):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            me = os.getpid()
            server_tree = set(process_tree(server.proc.pid))
            browser_pids = lambda: [p for p in process_tree(me)
                                    if p not in server_tree and p != me]
            cpu0 = (cpu_seconds(process_tree(server.proc.pid)), cpu_seconds(browser_pids()),
                    time.perf_counter())
            report["t_load_start"] = time.time()
            barrier = None if args.no_barrier else Barrier(args.sessions)
            await asyncio.gather(*(run_session(i, browser, server.url, args, res, barrier)
                                   for i in range(args.sessions)))
            report["t_load_end"] = time.time()
            if res.t_moves_start:
                report["t_moves_start"] = res.t_moves_start
            report["cpu"] = (cpu_seconds(process_tree(server.proc.pid)) - cpu0[0],
                             cpu_seconds(browser_pids()) - cpu0[1],
                             time.perf_counter() - cpu0[2])
            if not args.skip_isolation:
                report["isolation"] = await isolation_check(browser, server.url,
                                                            args.move_timeout * 1000)
        finally:
            await browser.close()


def print_table(args, res, report, server, monitor):
    from importlib.metadata import version

    rows = []
    add = lambda *r: rows.append(tuple(str(x) for x in r))
    moves = res.moves
    n_expected = args.sessions * args.moves
    errors = len(res.errors)
    add("errors (exceptions, page errors, timeouts, failed loads)", errors, "", "0",
        "ok" if errors == 0 else "OVER")
    add("sessions finished / started", f"{res.sessions_done} / {args.sessions}", "", "", "")
    add("moves measured / planned", f"{len(moves)} / {n_expected}", "", "",
        f"{res.repeated_presses} keypresses did not move the thumb and were repeated")
    fmt = lambda s: f"{s * 1e3:.0f} ms"
    if moves:
        add("move response, median", fmt(statistics.median(moves)), len(moves), "", "")
        p95 = percentile(moves, 0.95)
        add("move response, 95th percentile", fmt(p95), len(moves), f"< {P95_TARGET_S:g} s",
            "ok" if p95 < P95_TARGET_S else "OVER")
        add("move response, max", fmt(max(moves)), len(moves), "", "")
        if report.get("t_moves_start") and report.get("t_load_end"):
            span = report["t_load_end"] - report["t_moves_start"]
            add("moves answered per second (all sessions)", f"{len(moves) / span:.2f}",
                len(moves), "", f"over {span:.0f} s from the first move to the last")
        if res.parts:
            a, b, c = (statistics.median(p[i] for p in res.parts) for i in range(3))
            add("  median split: keypress->request sent / ->last reply / ->drawn",
                f"{fmt(a)} / {fmt(b)} / {fmt(c)}", len(res.parts), "",
                "from websocket frame times: browser debounce / server / browser draw")
        for label, xs in res.moves_by_slider.items():
            if xs:
                add(f"  {label} slider: median / p95", f"{fmt(statistics.median(xs))} / "
                    f"{fmt(percentile(xs, 0.95))}", len(xs), "", "")
        for path, xs in sorted(res.moves_by_page.items()):
            add(f"  {path}: median / p95", f"{fmt(statistics.median(xs))} / "
                f"{fmt(percentile(xs, 0.95))}", len(xs), "", "")
    if res.loads:
        add("first page load (goto -> rendered), median / max",
            f"{statistics.median(res.loads):.1f} s / {max(res.loads):.1f} s", len(res.loads),
            "", "all sessions at once on a fresh server")
    peak = monitor.peak_rss_kb / 1024
    hwm = max(monitor.hwm_kb.values(), default=0) / 1024
    add("server peak RSS (process tree, polled 0.1 s)", f"{peak:.0f} MB", monitor.samples,
        f"< {MEMORY_TARGET_MB:.0f} MB", "ok" if peak < MEMORY_TARGET_MB else "OVER")
    add("server VmHWM (kernel peak, largest process)", f"{hwm:.0f} MB", len(monitor.hwm_kb),
        f"< {MEMORY_TARGET_MB:.0f} MB", "ok" if hwm < MEMORY_TARGET_MB else "OVER")
    add("server RSS after start / at end", f"{report.get('rss_start', 0):.0f} MB / "
        f"{report.get('rss_end', 0):.0f} MB", "", "", "")
    if "cpu" in report:
        srv, brw, wall = report["cpu"]
        add("CPU seconds during load phase: server / browser / wall",
            f"{srv:.0f} / {brw:.0f} / {wall:.0f}", "", "",
            f"{os.cpu_count()} cores: {(srv + brw) / wall:.2f} busy")
    if "t_load_start" in report and not args.plain_server:
        span = (report["t_load_start"], report.get("t_load_end", time.time()))
        moves_from = report.get("t_moves_start", span[0])
        scripts = [e[1] for e in server.events("script", moves_from, span[1])]
        gcs = [e[1] for e in server.events("gc", moves_from, span[1])]
        first_views = [e for e in server.events("script", span[0], moves_from)]
        if first_views:
            done = max(e[0] for e in first_views) - span[0]
            add("server script runs before the moves (first views): median / max",
                f"{fmt(statistics.median(e[1] for e in first_views))} / "
                f"{fmt(max(e[1] for e in first_views))}", len(first_views), "",
                f"the last one ended {done:.0f} s after the sessions opened their pages")
        if scripts:
            add("server script run during moves: median / p95 / max",
                f"{fmt(statistics.median(scripts))} / {fmt(percentile(scripts, 0.95))} / "
                f"{fmt(max(scripts))}", len(scripts), "", "wall time of the page script")
        if gcs:
            add("server gc.collect(2) after each run: median / max",
                f"{fmt(statistics.median(gcs))} / {fmt(max(gcs))}", len(gcs), "",
                "runner.postScriptGC; holds the GIL")
        load_c = server.events("compile", *span)
        add("XLA compiles in the server during load phase", len(load_c), "", "",
            f"{sum(c[1] for c in load_c):.0f} s compiling; "
            + ", ".join(f"{k} x{v}" for k, v in sorted(_count_names(load_c).items(),
                                                         key=lambda kv: -kv[1])[:6]))
    if "isolation" in report:
        problems, final = report["isolation"]
        add("session isolation (2 contexts, interleaved + simultaneous)",
            "ok" if not problems else "FAILED", "", "ok", "; ".join(problems)
            or f"each kept its own URL, cell and curve length (final T: {final})")

    header = (f"rnnviz load test: {args.sessions} sessions x {args.moves} moves, think "
              f"{args.think:g} s, settle {args.settle:g} s; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"jax {version('jax')}, streamlit {version('streamlit')}, "
              f"Chromium {report.get('chromium', '?')}"
              + ("; server pinned to CPU 0, browser to the others" if args.pin else "")
              + "".join(f"; server {a}" for a in args.server_arg + args.server_env))
    cols = ("measure", "value", "n", "target", "verdict / note")
    widths = [max(len(r[i]) for r in rows + [cols]) for i in range(len(cols))]
    print("\n" + header)
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if res.errors:
        print(f"\nerrors ({len(res.errors)}):")
        for name, what in res.errors[:40]:
            print(f"  {name}: {what}")
    tracebacks = server_exceptions(server)
    if tracebacks:
        print(f"\nexceptions in the server log ({server.dir / 'server.log'}):")
        for last_line, (count, where) in tracebacks.items():
            print(f"  {count} x {last_line}\n      at {where}")


def server_exceptions(server):
    """Distinct tracebacks in the server log: last line -> (count, innermost app frame)."""
    try:
        lines = (server.dir / "server.log").read_text().splitlines()
    except OSError:
        return {}
    found, i = {}, 0
    while i < len(lines):
        if lines[i].startswith("Traceback"):
            where, j = "", i + 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                if lines[j].strip().startswith("File") and str(ROOT) in lines[j] \
                        and "site-packages" not in lines[j]:
                    where = lines[j].strip()
                j += 1
            last = lines[j] if j < len(lines) else "?"
            count, _ = found.get(last, (0, where))
            found[last] = (count + 1, where)
            i = j
        i += 1
    return found


def _count_names(rows):
    out = {}
    for _, _, name in rows:
        out[name] = out.get(name, 0) + 1
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.3,
                        help="mean pause between two moves of a session, seconds")
    parser.add_argument("--timeout", type=float, default=540, help="global limit, seconds")
    parser.add_argument("--load-timeout", type=float, default=240,
                        help="limit for the first page load of a session, seconds")
    parser.add_argument("--move-timeout", type=float, default=60,
                        help="limit for one slider move's response, seconds")
    parser.add_argument("--no-barrier", action="store_true",
                        help="start moving as soon as the own page loaded")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after every page loaded before the moves start "
                             "(lets the background length-bucket compiles finish)")
    parser.add_argument("--skip-isolation", action="store_true")
    parser.add_argument("--plain-server", action="store_true",
                        help="python -m streamlit run, no compile log")
    parser.add_argument("--pin", action="store_true",
                        help="diagnostic: server on CPU 0, this script and the browser on the "
                             "other CPUs, so the browser's drawing does not compete with it")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="diagnostic: extra `streamlit run` option, e.g. "
                             "--server-arg=--runner.postScriptGC=false (repeatable)")
    parser.add_argument("--server-env", action="append", default=[],
                        help="diagnostic: KEY=VALUE in the server's environment, e.g. "
                             "MALLOC_ARENA_MAX=2 (repeatable)")
    args = parser.parse_args()
    args.sessions = max(1, min(args.sessions, 100))
    args.moves = max(0, min(args.moves, 100))

    res, report = Results(), {}
    sources = source_mtimes()
    if args.pin:
        if (os.cpu_count() or 1) < 2:
            parser.error("--pin needs at least 2 CPUs")
        os.sched_setaffinity(0, set(range(1, os.cpu_count())))  # the browser inherits it
    server = Server(plain=args.plain_server, extra_args=args.server_arg,
                    extra_env=args.server_env, cpus="0" if args.pin else None)
    monitor = MemoryMonitor(server.proc.pid)
    t_start = time.perf_counter()
    try:
        health = server.wait_healthy()
        monitor.start()
        time.sleep(1.0)
        report["rss_start"] = monitor.sample() / 1024
        try:
            out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                                 timeout=20)
            report["chromium"] = out.stdout.split()[-1] if out.stdout else "?"
        except (OSError, subprocess.SubprocessError):
            pass
        print(f"server healthy after {health:.1f} s at {server.url}; pid {server.proc.pid}",
              file=sys.stderr, flush=True)
        remaining = args.timeout - (time.perf_counter() - t_start)
        try:
            asyncio.run(asyncio.wait_for(load(args, server, res, report), remaining))
        except TimeoutError:
            res.errors.append(("global", f"global timeout of {args.timeout:g} s reached"))
        report["rss_end"] = monitor.sample() / 1024
    finally:
        monitor.stop_event.set()
        server.stop()
    print_table(args, res, report, server, monitor)
    changed = changed_sources(sources)
    if changed:
        print(f"\nWARNING: sources changed during the run ({', '.join(changed)}); the server "
              "re-imports changed modules under live sessions, so these results are not valid.")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")
    return 1 if res.errors or changed else 0


if __name__ == "__main__":
    sys.exit(main())
