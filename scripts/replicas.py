"""N rnnviz replicas behind nginx on 127.0.0.1, with sticky sessions by cookie.

Usage:
  python scripts/replicas.py --replicas 2                # serve until Ctrl-C
  python scripts/replicas.py --replicas 2 -- python scripts/class_load.py \\
      --url {url} --pids {pids} --students 60             # run a command against them

Starts N `streamlit run app.py` processes on free ports of 127.0.0.1, all with one shared
persistent XLA cache folder (--xla-cache; a fresh one by default), and nginx (Debian's
package, `apt-get install -y nginx`) in front of them, configured from
scripts/nginx.conf.template: consistent hashing on a cookie nginx sets on the first
response (ip_hash cannot separate clients behind one address), websockets proxied with
the Upgrade headers. Waits until nginx answers and each replica is healthy and has run its
start-up hook once (/_stcore/script-health-check, which starts the app's warm-up), then
either runs the command (with {url} the nginx address and {pids} the replicas' PIDs,
comma-separated) or waits for Ctrl-C / SIGTERM. Stops everything by PID at the end.
"""
import argparse
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from app_server import AppServer, free_port, stop_process

TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def nginx_config(prefix: Path, listen_port: int, ports: list[int]) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
    # safe_substitute: nginx's own $variables stay as they are.
    conf = string.Template(TEMPLATE.read_text()).safe_substitute(
        prefix=prefix, listen=f"127.0.0.1:{listen_port}", servers=servers)
    assert "${" not in conf, "a field of the template was not filled"
    return conf


class Replicas:
    """The replicas and nginx; `stop()` ends them all (also when starting fails)."""

    def __init__(self, n: int, xla_cache: str | None = None, port: int | None = None,
                 extra_args=()):
        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("nginx not found: apt-get update && apt-get install -y nginx")
        self.dir = Path(tempfile.mkdtemp(prefix="rnnviz_replicas_"))
        self.xla_cache = xla_cache or str(self.dir / "xla-cache")
        self.servers: list[AppServer] = []
        self.nginx = None
        try:
            for i in range(n):
                self.servers.append(AppServer(
                    xla_cache=self.xla_cache, name=f"replica{i}",
                    extra_args=["--server.scriptHealthCheckEnabled", "true", *extra_args]))
            self.port = port or free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            conf = self.dir / "nginx.conf"
            conf.write_text(nginx_config(self.dir, self.port, [s.port for s in self.servers]))
            self.nginx_log = open(self.dir / "nginx.out", "w")
            self.nginx = subprocess.Popen(
                [nginx, "-p", str(self.dir), "-c", str(conf), "-g", "daemon off;"],
                stdout=self.nginx_log, stderr=subprocess.STDOUT)
        except Exception:
            self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers]

    def wait_ready(self, timeout: float = 180, start_up_hook: bool = True) -> float:
        """Seconds until every replica is healthy and has run its start-up hook (one headless
        run of the home page, which starts the app's warm-up), and nginx answers."""
        t0 = time.time()
        for s in self.servers:
            s.wait_healthy(timeout)
        for s in self.servers if start_up_hook else ():
            urllib.request.urlopen(s.url + "/_stcore/script-health-check", timeout=timeout).read()
        deadline = t0 + timeout
        while True:
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited; see {self.dir / 'error.log'}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("nginx does not answer") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.nginx is not None:
            stop_process(self.nginx)
            self.nginx_log.close()
        for s in self.servers:
            s.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--port", type=int, help="nginx's port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--xla-cache", help="shared persistent XLA cache folder (default: fresh)")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="after --: a command to run against them ({url}, {pids})")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not 1 <= args.replicas <= 16:
        ap.error("--replicas must be between 1 and 16")
    try:
        replicas = Replicas(args.replicas, args.xla_cache, args.port)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        ready = replicas.wait_ready()
        pids = ",".join(map(str, replicas.pids))
        print(f"{args.replicas} replicas (PIDs {pids}) behind nginx at {replicas.url}, ready "
              f"after {ready:.1f} s; XLA cache {replicas.xla_cache}; logs {replicas.dir}",
              flush=True)
        if command:
            filled = [c.replace("{url}", replicas.url).replace("{pids}", pids) for c in command]
            return subprocess.call(filled)
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        replicas.stop()


if __name__ == "__main__":
    sys.exit(main())
