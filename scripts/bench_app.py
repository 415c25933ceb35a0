"""App-level benchmark of rnnviz: what a visitor waits for, measured on this machine.

Usage:
  python scripts/bench_app.py              # full run, ~5-10 minutes on 2 CPU cores
  python scripts/bench_app.py --quick      # smoke run: few repeats, coarse sweep, 1 server
  python scripts/bench_app.py --only reruns,sweep,startup

Sections (every time is a median after warm-up; the machine is shared and noisy, so compare
ratios within one run, not across runs):

reruns   Server-side time of one rerun of each page, in-process with Streamlit's AppTest
         (one AppTest per page; the time is `at.run()`'s wall time: the script plus
         AppTest's own message handling). After a first (cold) view, and after the
         catalogue's warm-up (rnnviz/experiments/catalogue.py) has compiled every program:
           cached   rerun with the same settings (every st.cache_data call hits);
           gain     the "Gain on W_hh" slider moved to a value not seen before: a new
                    computation inside already compiled programs;
           T        the length slider moved to an unseen value inside the same length
                    bucket (the default T = 100 is in bucket 128): should cost the same as
                    `gain`, since the bucketed programs do not recompile.
         Each column also counts XLA compilations per rerun. Training lab: the page render
         without pressing Train, and separately the wall time of the default compare run
         (700 steps x RNN, LSTM, GRU) from pressing Train to completion (first press
         includes compiling, second press is warm).
sweep    XLA compilations while the length slider of the Gradient flow page sweeps
         2..1000 (every 7th value and both ends) in one AppTest session, after the first
         view. Each mode runs in a fresh subprocess (nothing compiled yet):
           nowait   sweep right after the first view, while the app's background
                    warm-up (`ui.start_warm_up`) compiles every page's programs;
           wait     the warm-up's whole catalogue compiled first, then the sweep (0
                    compiles: every length is data in the catalogue's programs);
           nowarm   no warm-up: the programs compile on demand.
         Compilations are counted with jax.monitoring's
         '/jax/core/compile/backend_compile_duration' event (checked first: a fresh jitted
         function must count exactly one), split into the bucketed programs
         (_flow_program) and everything else, and by thread.
startup  From `streamlit run app.py` process launch to (1) /_stcore/health answering 200
         and (2) the Gradient flow page fully rendered in headless Chromium (script idle,
         both Plotly charts drawn). A fresh server each time; median of 3. Each first start
         gets an empty persistent XLA cache of its own (JAX_COMPILATION_CACHE_DIR), as a
         newly deployed app has; the "restart" rows reuse one that an earlier start filled.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from app_server import ROOT, changed_sources, free_port, source_mtimes
sys.path.insert(0, str(ROOT))

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
BUCKET_PROGRAMS = ("_flow_program",)  # one program per length bucket (and width)
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/browser/conftest.py
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RERUN_TARGET_MS = 300.0
STARTUP_TARGET_S = 5.0

FLOW_PAGES = {  # page -> (label, has the flow sidebar)
    "app.py": ("Home", False),
    "pages/1_Gradient_flow.py": ("Gradient flow", True),
    "pages/2_Compare_cells.py": ("Compare cells", True),
    "pages/3_Gate_activations.py": ("Gate activations", True),
    "pages/4_Why_it_vanishes.py": ("Why it vanishes", True),
    "pages/5_Connectivity.py": ("Connectivity", True),
    "pages/6_Training_lab.py": ("Training lab", False),
    "pages/7_Theory.py": ("Theory", False),
    "pages/8_Deep_bidirectional.py": ("Deep & bidirectional", "dp"),  # its own sidebar
}
FULL = dict(reps=7, sweep_step=7, servers=3, train_query={})
# Quick: a short training run (the default one takes a minute or more).
QUICK = dict(reps=3, sweep_step=50, servers=1,
             train_query={"steps": "60", "T": "20", "hidden_size": "8", "compare": "true"})


# --- compile counter -----------------------------------------------------------------------

class CompileCounter:
    """Every XLA backend compile of this process: (fun_name, seconds, thread name)."""

    def __init__(self):
        self.events: list[tuple[str, float, str]] = []
        self._lock = threading.Lock()
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if event == COMPILE_EVENT:
            with self._lock:
                self.events.append((str(kwargs.get("fun_name", "?")), float(duration),
                                    threading.current_thread().name))

    def __len__(self):
        return len(self.events)

    def since(self, n):
        with self._lock:
            return list(self.events[n:])

    def self_check(self):
        """A fresh jitted function must count exactly one compile, and a second call none."""
        import jax
        import jax.numpy as jnp

        x = jnp.ones(7)
        f = jax.jit(lambda a: jnp.sin(a) * 3.0 + float(time.time_ns() % 997))
        n = len(self)
        f(x).block_until_ready()
        first = len(self) - n
        f(x).block_until_ready()
        second = len(self) - n - first
        if (first, second) != (1, 0):
            raise SystemExit(f"compile counter broken: fresh jit counted {first}, rerun {second}")
        return first


def is_bucket_program(fun_name: str) -> bool:
    return any(f"({p})" in fun_name or fun_name == p for p in BUCKET_PROGRAMS)


# --- helpers ---------------------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Table:
    """One table: (section, measure, median, max, n, target, verdict, note)."""

    def __init__(self):
        self.rows = []

    def add(self, section, measure, median, worst=None, n=None, target=None, ok=None,
            note=""):
        verdict = "" if ok is None else ("ok" if ok else "OVER")
        self.rows.append((section, measure, median, "" if worst is None else worst,
                          "" if n is None else str(n), target or "", verdict, note))

    def print(self, header):
        cols = ("section", "measure", "median", "max", "n", "target", "verdict", "note")
        widths = [max(len(str(r[i])) for r in self.rows + [cols]) for i in range(len(cols))]
        widths[-1] = min(widths[-1], 60)
        line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
        print("\n" + header)
        print(line)
        print("-" * len(line))
        last = None
        for r in self.rows:
            if last is not None and r[0] != last:
                print()
            last = r[0]
            print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def ms(seconds) -> str:
    return f"{seconds * 1e3:.0f} ms"


# --- section: reruns --------------------------------------------------------------------------

def new_app(query=None, timeout=600):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params.update(query or {})
    return at


def timed_run(at, counter, action=None):
    """One rerun (after `action`, a widget change): (seconds, compiles during it)."""
    n = len(counter)
    t0 = time.perf_counter()
    (action(at) if action else at).run()
    dt = time.perf_counter() - t0
    if at.exception:
        trace = "".join(getattr(at.exception[0], "stack_trace", [])[-2:])
        raise RuntimeError(f"exception on the page: {trace or at.exception[0].value}")
    return dt, len(counter) - n


def join_warmers():
    """Wait for the app's background warm-up to finish compiling the catalogue (it runs
    while no visitor compiles), so that what follows measures reruns, not compiles."""
    from rnnviz.presentation import ui

    for thread in list(ui._WARMERS):
        thread.join()


def warm_catalogue():
    """What the server's warm-up does, here and now: every program of the catalogue
    compiled and pinned (a no-op for those already compiled in this process)."""
    from rnnviz.experiments import catalogue

    catalogue.warm_up(catalogue.programs(), patient=False)


def bench_reruns(table, counter, p):
    reps = p["reps"]
    # Distinct length values per page inside bucket 128 (65..128), never seen before in this
    # process: a T value seen by an earlier page would reuse whatever it compiled.
    T_values = iter(range(66, 129))
    gain_values = iter(round(0.5 + 0.01 * i, 2) for i in range(1, 300))
    for page, (label, flow) in FLOW_PAGES.items():
        try:
            bench_page(table, counter, page, label, flow, reps, T_values, gain_values)
        except Exception as e:  # a broken page is a result: report it, go on
            table.add("a. rerun", f"{label}: ERROR", "", note=str(e)[:200], ok=False)
        print(f"  reruns: {label} done", file=sys.stderr, flush=True)
    try:
        bench_training(table, counter, p)
    except Exception as e:
        table.add("a. training", "ERROR", "", note=str(e)[:200], ok=False)


def bench_page(table, counter, page, label, flow, reps, T_values, gain_values):
    at = new_app()
    if page != "app.py":
        at.switch_page(page)
    cold, cold_compiles = timed_run(at, counter)
    warm_catalogue()  # as the server's warm-up does before a class arrives
    for _ in range(2):
        timed_run(at, counter)
    cached = [timed_run(at, counter) for _ in range(reps)]
    note = f"first view {cold:.2f} s, {cold_compiles} compiles"

    def row(kind, res, extra=""):
        median = med([t for t, _ in res])
        table.add("a. rerun", f"{label}: {kind}", ms(median), ms(max(t for t, _ in res)),
                  len(res), f"< {RERUN_TARGET_MS:.0f} ms", median * 1e3 < RERUN_TARGET_MS,
                  extra + f"compiles/rerun {med([c for _, c in res]):g}")

    def move(key, value):
        return timed_run(at, counter, lambda a: a.slider(key=key).set_value(value))

    row("cached", cached, note + "; ")
    if flow:
        prefix = flow if isinstance(flow, str) else "fl"
        row("gain move", [move(f"{prefix}_gain", next(gain_values)) for _ in range(reps)])
        row("T move, same bucket", [move(f"{prefix}_T", next(T_values)) for _ in range(reps)])


def bench_training(table, counter, p):
    at = new_app(p["train_query"])
    at.switch_page("pages/6_Training_lab.py")
    timed_run(at, counter)
    steps = at.number_input(key="tr_steps").value
    cells = "RNN, LSTM, GRU" if at.toggle(key="tr_compare").value else "one cell"
    presses = []
    for _ in range(2):
        button = next(b for b in at.button if b.label == "Train")
        dt, compiles = timed_run(at, counter, lambda a, b=button: b.click())
        if at.error:
            raise RuntimeError(f"training error: {at.error[0].value}")
        presses.append((dt, compiles))
    table.add("a. training", f"Train pressed, {steps} steps x {cells}: first press",
              f"{presses[0][0]:.1f} s", n=1, note=f"includes {presses[0][1]} compiles; "
              "drawn 5 charts per snapshot")
    table.add("a. training", "same, second press (warm)", f"{presses[1][0]:.1f} s", n=1,
              note=f"{presses[1][1]} compiles")
    from dataclasses import replace

    from rnnviz.engine import train

    run = at.session_state["tr_run"]
    t0 = time.perf_counter()
    snapshots = 0
    for cell in run["cells"]:
        snapshots += sum(1 for _ in train.train(replace(run["config"], cell=cell)))
    compute = time.perf_counter() - t0
    table.add("a. training", "same run, train.train alone (no page, warm)", f"{compute:.1f} s",
              n=1, note=f"{snapshots} snapshots; the page redraws all charts after each: "
                        f"{(presses[1][0] - compute) / max(snapshots, 1) * 1e3:.0f} ms per redraw")


# --- section: sweep ----------------------------------------------------------------------------

def sweep_values(step):
    values = list(range(2, 1001, step))
    return values if values[-1] == 1000 else values + [1000]


def sweep_child(mode, step):
    """Runs in a fresh subprocess; prints one JSON line."""
    counter = CompileCounter()
    counter.self_check()
    from rnnviz.experiments import one_layer

    if mode != "nowarm":  # AppTest runs no warm-up of its own (ui.warm_up_wanted): start it
        from rnnviz.presentation import ui

        ui.start_warm_up()
    at = new_app()
    at.switch_page("pages/1_Gradient_flow.py")
    n0 = len(counter)
    first, _ = timed_run(at, counter)
    n1 = len(counter)
    if mode == "wait":
        join_warmers()
    n_sweep = len(counter)
    rss0 = rss_mb()
    times = []
    for T in sweep_values(step):
        dt, _ = timed_run(at, counter, lambda a, T=T: a.slider(key="fl_T").set_value(T))
        times.append((T, dt))
    during = counter.since(n_sweep)
    rss1 = rss_mb()
    join_warmers()
    after_first = counter.since(n1)
    since_open = counter.since(n0)

    def split(events):
        bucket = [e for e in events if is_bucket_program(e[0])]
        other = [e for e in events if not is_bucket_program(e[0])]
        names = {}
        for e in other:
            names[e[0]] = names.get(e[0], 0) + 1
        return dict(total=len(events), bucket=len(bucket), other=len(other),
                    other_names=names, warm_thread=sum("warm_up" in e[2] for e in events),
                    seconds=sum(e[1] for e in events))

    slowest = sorted(times, key=lambda x: -x[1])[:3]
    print(json.dumps(dict(
        mode=mode, first_view=first, first_view_compiles=n1 - n0,
        during_sweep=split(during), after_first_view=split(after_first),
        since_open=split(since_open),
        rerun_median=med([t for _, t in times]), rerun_max=max(t for _, t in times),
        slowest=slowest, n=len(times), rss_before=rss0, rss_after=rss1,
    )))


def bench_sweep(table, p):
    step = p["sweep_step"]
    n = len(sweep_values(step))
    for mode in ("nowait", "wait", "nowarm"):
        out = subprocess.run(
            [sys.executable, __file__, "--_sweep-child", mode, "--_step", str(step)],
            cwd=ROOT, capture_output=True, text=True, timeout=1200)
        if out.returncode:
            raise RuntimeError(f"sweep child {mode} failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        d, a = r["during_sweep"], r["after_first_view"]
        label = {"nowait": "sweep at once (warm-up thread running)",
                 "wait": "sweep after the warm-up thread finished",
                 "nowarm": "warm-up disabled (compile on demand)"}[mode]
        others = ", ".join(f"{k} x{v}" for k, v in sorted(d["other_names"].items()))
        table.add("b. sweep", f"{label}: compiles during sweep", str(d["total"]), n=n,
                  target="<= 7", ok=d["total"] <= 7,
                  note=f"bucketed programs {d['bucket']}, other {d['other']} ({others}); "
                       f"{d['warm_thread']} in warm-up thread; {d['seconds']:.1f} s compiling")
        o = r["since_open"]
        table.add("b. sweep", f"{label}: compiles after first view, incl. warm-up",
                  str(a["total"]), target="", note=f"bucketed {a['bucket']} "
                  f"({a['warm_thread']} in warm-up thread), other {a['other']}; since the page "
                  f"opened: {o['bucket']} bucketed (2 programs x 7 buckets = 14 expected)")
        slow = ", ".join(f"T={T}: {ms(t)}" for T, t in r["slowest"])
        table.add("b. sweep", f"{label}: rerun time during sweep", ms(r["rerun_median"]),
                  ms(r["rerun_max"]), r["n"], f"< {RERUN_TARGET_MS:.0f} ms",
                  r["rerun_median"] * 1e3 < RERUN_TARGET_MS,
                  f"first view {r['first_view']:.2f} s ({r['first_view_compiles']} compiles); "
                  f"slowest {slow}; RSS {r['rss_before']:.0f}->{r['rss_after']:.0f} MB")
        print(f"  sweep: {mode} done", file=sys.stderr, flush=True)


# --- section: cache -----------------------------------------------------------------------------

CACHED = ("gradient_flow", "gate_activity", "jacobian_analysis", "connectivity_map")


def bench_cache(table, p):
    """Bytes st.cache_data holds per entry (it keeps the pickled value) at the defaults and
    at the largest settings, and the worst case max_entries x largest entry."""
    import pickle

    from rnnviz.experiments import one_layer
    from rnnviz.presentation import ui

    largest_T, largest_H = one_layer.MAX_T, max(one_layer.HIDDEN_SIZES)
    total = 0.0
    for name in CACHED:
        cached = getattr(ui, name)
        compute = getattr(one_layer, name)
        info = getattr(cached, "_info", None)
        max_entries = getattr(info, "max_entries", None)
        ttl = getattr(info, "ttl", None)
        default = len(pickle.dumps(compute(one_layer.FlowConfig())))
        sizes = {}
        for cell in ("rnn", "lstm", "gru"):
            config = one_layer.FlowConfig(cell=cell, T=largest_T, H=largest_H)
            sizes[cell] = len(pickle.dumps(compute(config)))
        cell, big = max(sizes.items(), key=lambda kv: kv[1])
        worst = None if max_entries is None else max_entries * big / 2**20
        total += worst or 0.0
        table.add("d. cache", f"ui.{name}: bytes per entry, defaults / T={largest_T} "
                  f"H={largest_H} {cell}", f"{default / 1024:.0f} KB / {big / 2**20:.2f} MB",
                  n=max_entries, note=f"max_entries {max_entries}, ttl {ttl}: worst case "
                  f"{worst:.0f} MB" if worst is not None else "no max_entries")
        print(f"  cache: {name} done", file=sys.stderr, flush=True)
    table.add("d. cache", "all four caches full of largest entries", f"{total:.0f} MB",
              target="< 600 MB (process)", ok=total < 600,
              note="entries at the defaults are far smaller; see the rows above")


# --- section: memory ----------------------------------------------------------------------------

def memory_child():
    """Runs in a fresh subprocess: RSS after the imports, then as the warm-up compiles the
    catalogue family by family (what the programs hold, pinned for the life of the server),
    then one session's views of every page at the defaults, then after malloc_trim. Prints
    one JSON line of (label, MB, compiles) steps."""
    import ctypes
    import gc

    steps = [("python", rss_mb(), 0)]
    import jax.numpy as jnp

    counter = CompileCounter()
    jnp.ones(3).block_until_ready()
    steps.append(("import jax", rss_mb(), len(counter)))
    from rnnviz.experiments import catalogue  # noqa: F401 -- what the app imports
    from rnnviz.presentation import plots, ui  # noqa: F401 -- what the app imports

    steps.append(("import streamlit, rnnviz", rss_mb(), len(counter)))
    entries = catalogue.programs()
    for family in dict.fromkeys(p.family for p in entries):
        listed = [p for p in entries if p.family == family]
        catalogue.warm_up(listed, patient=False)
        steps.append((f"the catalogue's {family} ({len(listed)} programs)", rss_mb(),
                      len(counter)))
    for page, _, _ in ui.PAGES:
        at = new_app()
        if page != "app.py":
            at.switch_page(page)
        at.run()
    steps.append(("one session's view of every page", rss_mb(), len(counter)))
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    steps.append(("after malloc_trim(0) (free heap returned)", rss_mb(), len(counter)))
    print(json.dumps(steps))


def bench_memory(table, p):
    out = subprocess.run([sys.executable, __file__, "--_memory-child"], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200)
    if out.returncode:
        raise RuntimeError(f"memory child failed:\n{out.stderr[-3000:]}")
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    previous, compiled = None, 0
    for label, mb, compiles in steps:
        delta = "" if previous is None else f"{mb - previous:+.0f} MB"
        if compiles > compiled:
            delta += f", {compiles - compiled} XLA compiles"
        compiled = compiles
        last_view = label.startswith("after")
        table.add("e. memory", f"RSS {'' if last_view else 'after '}{label}", f"{mb:.0f} MB",
                  target="< 690 MB" if not last_view else "",
                  ok=(mb < 690) if not last_view else None, note=delta)
        previous = mb
    print("  memory done", file=sys.stderr, flush=True)


# --- section: startup ---------------------------------------------------------------------------

WAIT_RENDERED = """n => {
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    const plots = document.querySelectorAll('.js-plotly-plot .main-svg').length;
    return !running && plots >= n && document.querySelector('[data-testid="stApp"]');
}"""


WARMUP_OFF = (  # diagnostic server: the background warm-up of the catalogue disabled
    "import sys; import rnnviz.presentation.ui as u; u.start_warm_up = lambda *a, **k: []; "
    "from streamlit.web.cli import main; sys.argv = ['streamlit'] + sys.argv[1:]; "
    "main(prog_name='streamlit')"
)


def one_startup(browser, variant="plain", env=None):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"rnnviz_bench_app_server_{port}.log"
    log = open(log_path, "w")
    t0 = time.perf_counter()
    launcher = ["-c", WARMUP_OFF] if variant == "nowarm" else ["-m", "streamlit"]
    proc = subprocess.Popen(
        [sys.executable, *launcher, "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = t0 + 120
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.perf_counter() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server did not start; see {log_path}") from None
                time.sleep(0.02)
        t_health = time.perf_counter() - t0
        context = browser.new_context(viewport={"width": 1500, "height": 1500})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url + "/Gradient_flow")
        page.wait_for_selector('[data-testid="stApp"]')
        t_shell = time.perf_counter() - t0
        # the page title is the first thing the script draws, right after its imports
        page.wait_for_selector('h1:has-text("Gradient flow")')
        t_title = time.perf_counter() - t0
        page.wait_for_function(WAIT_RENDERED, arg=2, polling=20)
        t_rendered = time.perf_counter() - t0
        errors = page.locator('[data-testid="stException"]').count()
        context.close()
        return t_health, t_rendered, errors, t_shell, t_title
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def bench_startup(table, p):
    from playwright.sync_api import sync_playwright

    def xla_cache(path=None):  # the app's persistent XLA cache, in a folder of our own
        return {"JAX_COMPILATION_CACHE_DIR": path or tempfile.mkdtemp(prefix="rnnviz_xla_")}

    filled = xla_cache()
    variants = (  # (label, launcher, env per server, servers, whether it has the target)
        ("streamlit run app.py", "plain", xla_cache, p["servers"], True),
        # its launcher imports rnnviz (and jax) before the server starts, which alone saves
        # the first view ~0.5-0.9 s: compare it with care
        ("diagnostic: background warm-up disabled, jax imported at launch", "nowarm",
         xla_cache, p["servers"], False),
        # the first server fills the persistent XLA cache, the next ones read it
        ("restart: persistent XLA cache filled by an earlier start", "plain",
         lambda: filled, 1 + p["servers"], False),
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        for label, launcher, env, servers, main_row in variants:
            results = []
            for i in range(servers):
                results.append(one_startup(browser, launcher, env()))
                print(f"  startup: {label}, server {i + 1} done", file=sys.stderr, flush=True)
            if label.startswith("restart"):
                results = results[1:]  # the first one only filled the cache
            health = [r[0] for r in results]
            rendered = [r[1] for r in results]
            after = med([r - h for h, r in zip(health, rendered)])
            errors = sum(r[2] for r in results)
            if main_row:
                table.add("c. startup", "process launch -> /_stcore/health 200",
                          f"{med(health):.2f} s", f"{max(health):.2f} s", len(results))
                shell = [r[3] for r in results]
                title = [r[4] for r in results]
                table.add("c. startup", "process launch -> page shell (stApp) in Chromium",
                          f"{med(shell):.2f} s", f"{max(shell):.2f} s", len(results))
                table.add("c. startup", "process launch -> page title drawn (imports done)",
                          f"{med(title):.2f} s", f"{max(title):.2f} s", len(results))
                table.add("c. startup", "first start (empty XLA cache): launch -> Gradient "
                          "flow rendered (Chromium)",
                          f"{med(rendered):.2f} s", f"{max(rendered):.2f} s", len(results),
                          f"< {STARTUP_TARGET_S:g} s", med(rendered) < STARTUP_TARGET_S,
                          f"health -> rendered {after:.2f} s; exceptions on page: {errors}")
            else:
                table.add("c. startup", f"{label}: launch -> rendered", f"{med(rendered):.2f} s",
                          f"{max(rendered):.2f} s", len(results),
                          note=f"health -> rendered {after:.2f} s; exceptions: {errors}")
        browser.close()
    imports = []
    for _ in range(p["servers"]):
        out = subprocess.run(
            [sys.executable, "-c", ("import time; t = time.perf_counter(); import streamlit, "
                                    "rnnviz.presentation.ui, rnnviz.presentation.plots, rnnviz.experiments.one_layer; "
                                    "print(time.perf_counter() - t)")],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
    table.add("c. startup", "import streamlit + rnnviz (jax) in a fresh interpreter",
              f"{med(imports):.2f} s", f"{max(imports):.2f} s", len(imports),
              note="paid by the first script run of a server")


# --- main -----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--only", default="reruns,sweep,cache,memory,startup",
                        help="comma-separated sections: reruns, sweep, cache, memory, startup")
    parser.add_argument("--_sweep-child", dest="sweep_child", help=argparse.SUPPRESS)
    parser.add_argument("--_step", dest="step", type=int, default=7, help=argparse.SUPPRESS)
    parser.add_argument("--_memory-child", dest="memory_child", action="store_true",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.chdir(ROOT)
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    if args.sweep_child:
        return sweep_child(args.sweep_child, args.step)
    if args.memory_child:
        return memory_child()

    p = QUICK if args.quick else FULL
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    import jax
    import streamlit

    counter = CompileCounter()
    counter.self_check()
    header = (f"rnnviz app benchmark ({'quick' if args.quick else 'full'}): "
              f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}, jax {jax.__version__} "
              f"({jax.default_backend()}), streamlit {streamlit.__version__}; "
              f"compile counter self-check: a fresh jit counts 1")
    table = Table()
    sources = source_mtimes()
    t0 = time.perf_counter()
    if "reruns" in sections:
        bench_reruns(table, counter, p)
    if "sweep" in sections:
        bench_sweep(table, p)
    if "cache" in sections:
        bench_cache(table, p)
    if "memory" in sections:
        bench_memory(table, p)
    if "startup" in sections:
        bench_startup(table, p)
    table.print(header)
    changed = changed_sources(sources)
    if changed:
        print(f"\nWARNING: sources changed during the run ({', '.join(changed)}); "
              "the figures may mix two versions of the app.")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
