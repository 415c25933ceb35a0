"""Helpers shared by the app benchmark, the load tests and the replica launcher, which all
run their own servers on 127.0.0.1 and stop them by PID."""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source_mtimes() -> dict[str, float]:
    """Modification times of the app's sources: a change during a run invalidates it (a
    running Streamlit server re-imports changed modules under its live sessions)."""
    files = [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("rnnviz/**/*.py")]
    return {str(f.relative_to(ROOT)): f.stat().st_mtime for f in files if f.exists()}


def changed_sources(before: dict[str, float]) -> list[str]:
    after = source_mtimes()
    return sorted(f for f in set(before) | set(after) if before.get(f) != after.get(f))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs, q: float) -> float:
    """The q-quantile (0..1) of xs, linearly interpolated; NaN for no values."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# The server, through a wrapper that logs what it compiles, one line per event
# (time, seconds, kind, name): XLA backend compiles (persistent-cache reads included, which
# "cache_hit" lines follow), jaxpr tracing and lowering, every program rnnviz.engine.programs
# stores (its name, static arguments and shapes), and every script run.
COMPILE_LOG_WRAPPER = """
import os, sys, threading, time
from jax import monitoring
log = open(os.environ["RNNVIZ_COMPILE_LOG"], "a", buffering=1)
lock = threading.Lock()
def write(seconds, kind, name):
    with lock:
        log.write(f"{time.time():.3f}\\t{seconds:.4f}\\t{kind}\\t{name}\\n")
KINDS = {"/jax/core/compile/backend_compile_duration": "compile",
         "/jax/core/compile/jaxpr_trace_duration": "trace",
         "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower"}
def on_duration(event, seconds, **kw):
    if event in KINDS:
        write(seconds, KINDS[event], kw.get("fun_name", "-"))
def on_event(event, **kw):
    if event == "/jax/compilation_cache/cache_hits":
        write(0.0, "cache_hit", "-")
monitoring.register_event_duration_secs_listener(on_duration)
monitoring.register_event_listener(on_event)
try:
    from rnnviz.engine import programs
    _store = programs._store
    def logged_store(key, program, **kw):
        fun, static, _, avals = key
        shapes = ",".join("x".join(map(str, a.shape)) or "()" for a in avals)
        write(0.0, "program", f"{fun.__name__}{dict(static)}[{shapes}]".replace("\\t", " "))
        return _store(key, program, **kw)
    programs._store = logged_store
except Exception as e:
    print("compile-log wrapper: programs not logged:", e, file=sys.stderr)
try:
    from streamlit.runtime.scriptrunner import script_runner as sr
    _exec = sr.exec_func_with_error_handling
    def timed_exec(func, ctx):
        t0 = time.perf_counter()
        try:
            return _exec(func, ctx)
        finally:
            write(time.perf_counter() - t0, "script", "-")
    sr.exec_func_with_error_handling = timed_exec
except Exception as e:
    print("compile-log wrapper: no script timing:", e, file=sys.stderr)
from streamlit.web.cli import main
sys.argv = ["streamlit"] + sys.argv[1:]
main(prog_name="streamlit")
"""


class AppServer:
    """`streamlit run app.py` on 127.0.0.1 at a free port, logging its compiles.

    xla_cache: the persistent XLA cache folder (JAX_COMPILATION_CACHE_DIR); None gives a
      fresh, empty one in the server's own temporary folder (a newly deployed app).
    """

    def __init__(self, xla_cache: str | None = None, extra_args=(), extra_env=None,
                 port: int | None = None, name: str = "server"):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"rnnviz_{name}_"))
        self.xla_cache = xla_cache or str(self.dir / "xla-cache")
        self.compile_log = self.dir / "compiles.tsv"
        self.compile_log.write_text("")
        self.log_path = self.dir / "server.log"
        self._log = open(self.log_path, "w")
        args = ["run", "app.py", "--server.port", str(self.port),
                "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args]
        env = {**os.environ, "RNNVIZ_COMPILE_LOG": str(self.compile_log),
               "JAX_COMPILATION_CACHE_DIR": self.xla_cache, **(extra_env or {})}
        self.t0 = time.time()
        self.proc = subprocess.Popen([sys.executable, "-c", COMPILE_LOG_WRAPPER, *args],
                                     cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds from launch until /_stcore/health answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - self.t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not healthy within {timeout} s; see {self.log_path}")

    def events(self, kind: str, since: float = 0.0) -> list[tuple[float, float, str]]:
        """(time, seconds, name) of the logged events of one kind."""
        rows = []
        for line in self.compile_log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[2] == kind and float(parts[0]) >= since:
                rows.append((float(parts[0]), float(parts[1]), parts[3]))
        return rows

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process by its PID, SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def status_kb(pid: int, field: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryMonitor(threading.Thread):
    """Samples VmRSS of some processes every `interval` s; keeps each one's peak, and (with
    use_hwm) the kernel's own high-water mark VmHWM, the peak since the process started."""

    def __init__(self, pids, interval: float = 0.1, use_hwm: bool = True):
        super().__init__(daemon=True)
        self.pids, self.interval, self.use_hwm = list(pids), interval, use_hwm
        self.peak_rss_kb = {p: 0 for p in self.pids}
        self.hwm_kb = {p: 0 for p in self.pids}
        self._stop_event = threading.Event()

    def sample(self) -> None:
        for p in self.pids:
            self.peak_rss_kb[p] = max(self.peak_rss_kb[p], status_kb(p, "VmRSS"))
            if self.use_hwm:
                self.hwm_kb[p] = max(self.hwm_kb[p], status_kb(p, "VmHWM"))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self.sample()
        self._stop_event.set()

    def peak_mb(self) -> float:
        """The largest peak of any one process (each replica is its own process)."""
        return max((max(self.peak_rss_kb[p], self.hwm_kb[p]) for p in self.pids),
                   default=0) / 1024
