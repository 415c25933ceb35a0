"""Helpers shared by the app benchmark and the load test, which both run their own server."""
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source_mtimes() -> dict[str, float]:
    """Modification times of the app's sources: a change during a run invalidates it (a
    running Streamlit server re-imports changed modules under its live sessions)."""
    files = [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("rnnviz/*.py")]
    return {str(f.relative_to(ROOT)): f.stat().st_mtime for f in files if f.exists()}


def changed_sources(before: dict[str, float]) -> list[str]:
    after = source_mtimes()
    return sorted(f for f in set(before) | set(after) if before.get(f) != after.get(f))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
