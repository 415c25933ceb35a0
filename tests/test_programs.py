"""The bounded table of compiled programs (rnnviz/engine/programs.py) and the process it protects."""
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnviz.engine import programs

ROOT = Path(__file__).resolve().parents[1]


@programs.jit(static_argnames=("power",))
def _scaled_power(x, scale=2.0, *, power):
    return scale * x**power


def test_jit_matches_jax_jit_with_static_defaults_and_keywords():
    x = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
    expected = jax.jit(lambda x: 3.0 * x**3)(x)
    np.testing.assert_allclose(_scaled_power(x, 3.0, power=3), expected, rtol=1e-6)
    np.testing.assert_allclose(_scaled_power(x=x, scale=3.0, power=3), expected, rtol=1e-6)
    np.testing.assert_allclose(_scaled_power(x, power=1), 2.0 * x, rtol=1e-6)


def test_jit_inlines_under_an_outer_trace():
    x = jnp.arange(1.0, 4.0)
    grad = jax.grad(lambda x: jnp.sum(_scaled_power(x, power=2)))(x)
    np.testing.assert_allclose(grad, 4.0 * x)


def test_table_keeps_at_most_capacity_and_recompiles_what_it_dropped(monkeypatch):
    monkeypatch.setattr(programs, "CAPACITY", 3)
    programs.clear()
    before = programs.stats()
    results = [_scaled_power(np.ones(n, np.float32), power=2) for n in range(1, 8)]
    after = programs.stats()
    assert after["alive"] == 3
    assert after["compiles"] - before["compiles"] == 7
    assert after["evictions"] - before["evictions"] == 4
    # A dropped program comes back with the same numbers.
    again = _scaled_power(np.ones(1, np.float32), power=2)
    np.testing.assert_array_equal(again, results[0])
    assert programs.stats()["compiles"] == after["compiles"] + 1


def _run_child(code: str, timeout: float) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_a_dropped_program_frees_its_memory():
    """jax.jit keeps every program (1.4 MB of native memory each, even the smallest); the
    table's programs are freed when dropped. 150 distinct programs, at most 5 alive."""
    code = """
        import ctypes, gc
        import numpy as np
        from rnnviz.engine import programs
        programs.CAPACITY = 5

        @programs.jit()
        def f(x):
            return x * 2.0 + 1.0

        def rss_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

        f(np.ones(1, np.float32))
        before = rss_mb()
        for n in range(2, 152):
            f(np.ones(n, np.float32)).block_until_ready()
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(rss_mb() - before)
    """
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    grown_mb = float(_run_child(code, timeout=300))
    assert grown_mb < 40, f"{grown_mb:.0f} MB for 150 programs: dropped programs were kept"


def test_lapack_programs_from_many_threads_do_not_deadlock():
    """Four threads computing step-Jacobian SVDs at once hung the process forever (jaxlib's
    CPU SVD blocks XLA pool threads while waiting for its own pieces); a hosted server
    with a class on 'Why it vanishes' would hang the same way."""
    code = """
        import threading
        import jax, numpy as np
        from rnnviz.engine import init, jacobians
        params = init.init_params(jax.random.PRNGKey(0), "lstm", 2, 16, scheme="orthogonal")
        xs = np.random.default_rng(0).normal(size=(64, 2, 2)).astype(np.float32)

        def work():
            for _ in range(12):
                jacobians.step_jacobian_singular_values("lstm", params, xs)
                init.init_params(jax.random.PRNGKey(1), "gru", 2, 16, scheme="orthogonal")

        threads = [threading.Thread(target=work, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        print(sum(t.is_alive() for t in threads))
    """
    assert _run_child(code, timeout=150) == "0", "threads still waiting: deadlock"


@programs.jit(static_argnames=("power",), one_at_a_time=True)
def _lapack_power(x, *, power):
    return x**power


def test_a_one_at_a_time_program_compiles_outside_the_lapack_lock():
    """Holding the LAPACK lock (another visitor's SVDs running) must not stop a compile:
    only the run waits for the lock."""
    programs.clear()
    before = programs.stats()["compiles"]
    out = {}
    with programs._lapack_lock:
        worker = threading.Thread(
            target=lambda: out.setdefault("y", _lapack_power(np.ones(3, np.float32), power=3)))
        worker.start()
        deadline = time.monotonic() + 120
        while programs.stats()["compiles"] == before and time.monotonic() < deadline:
            time.sleep(0.01)
        compiled_while_locked = programs.stats()["compiles"] == before + 1
        assert "y" not in out  # ... but it has not run
    worker.join(timeout=60)
    assert compiled_while_locked
    np.testing.assert_array_equal(out["y"], np.ones(3, np.float32))


def test_a_visitor_never_waits_for_a_warm_up_that_waits_for_quiet(monkeypatch):
    """A compile ahead of need claims a program and then waits for the class to fall quiet;
    a visitor who needs that very program meanwhile must get it at once, not when the
    class is quiet (it waited 14 s in a teacher-led class before this was mended)."""
    monkeypatch.setattr(programs, "BACKGROUND_QUIET_S", 3600.0)  # never quiet in this test
    programs.clear()
    programs.note_activity()
    x = np.arange(5, dtype=np.float32)

    def warm_up():
        with programs.in_background(patient=True), programs.compile_only():
            _scaled_power(x, power=4)

    background = threading.Thread(target=warm_up, daemon=True)
    background.start()
    deadline = time.monotonic() + 60
    while not programs._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert programs._in_flight  # the warm-up has claimed the program and waits its turn
    out = {}
    visitor = threading.Thread(target=lambda: out.setdefault("y", _scaled_power(x, power=4)),
                               daemon=True)
    visitor.start()
    visitor.join(timeout=120)
    background.join(timeout=120)
    assert not visitor.is_alive() and not background.is_alive()
    np.testing.assert_allclose(out["y"], 2.0 * x**4)
    assert not programs._awaited


def test_compile_only_compiles_without_running_and_keeps_the_table():
    programs.clear()
    x = np.arange(4, dtype=np.float32)
    with programs.compile_only():
        zeros = _scaled_power(x, 3.0, power=2)
    assert zeros.shape == x.shape and zeros.dtype == x.dtype and not zeros.any()
    compiles = programs.stats()["compiles"]
    np.testing.assert_allclose(_scaled_power(x, 3.0, power=2), 3.0 * x**2)
    assert programs.stats()["compiles"] == compiles  # the real call found it compiled


def test_compile_only_does_not_push_out_programs_in_use(monkeypatch):
    monkeypatch.setattr(programs, "CAPACITY", 2)
    monkeypatch.setattr(programs, "COMPILE_ONLY_KEEPS", 2)
    programs.clear()
    for n in (1, 2):
        _scaled_power(np.ones(n, np.float32), power=2)
    in_use = set(programs._programs)
    with programs.compile_only():
        _scaled_power(np.ones(3, np.float32), power=2)
    assert set(programs._programs) == in_use


def test_weights_redrawn_with_other_options_reuse_the_kept_draw():
    """A new gain or bias on the same seed, scheme and size draws nothing again: no program
    runs or compiles, and the weights are what a fresh draw gives."""
    from rnnviz.engine import init

    key = jax.random.PRNGKey(11)
    init._kept.clear()
    first = init.init_params(key, "lstm", 2, 8, scheme="orthogonal")
    compiles = programs.stats()["compiles"]
    programs.clear()  # the draw's program is gone: only the kept draw can serve it
    scaled = init.init_params(key, "lstm", 2, 8, scheme="orthogonal", gain=2.0,
                              forget_bias=3.0)
    assert programs.stats()["compiles"] == compiles
    np.testing.assert_array_equal(np.asarray(scaled.w_hh), 2.0 * np.asarray(first.w_hh))
    np.testing.assert_array_equal(np.asarray(scaled.w_ih), np.asarray(first.w_ih))
    init._kept.clear()
    fresh = init.init_params(key, "lstm", 2, 8, scheme="orthogonal")
    for a, b in zip(first, fresh):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Kept arrays are read-only: a caller writing into its weights changes no later draw.
    kept = next(iter(init._kept.values()))
    assert not any(a.flags.writeable for a in kept)


def test_a_draw_compiled_ahead_of_need_is_not_kept():
    """The warm-up compiles draws without running them (zeros come back): those zeros must
    never be served later as the weights of that seed."""
    from rnnviz.engine import init

    key = jax.random.PRNGKey(12)
    init._kept.clear()
    programs.clear()
    with programs.compile_only():
        placeholder = init.init_params(key, "rnn", 2, 8, scheme="glorot")
    assert not np.asarray(placeholder.w_hh).any() and not init._kept
    drawn = init.init_params(key, "rnn", 2, 8, scheme="glorot")
    assert np.asarray(drawn.w_hh).any()


def test_pinned_programs_stay_beyond_capacity(monkeypatch):
    """The catalogue's programs, compiled in `pinned()`, are never dropped and do not count
    against the bounded table; a program a visitor compiled before the warm-up reached it
    is pinned when the warm-up does."""
    monkeypatch.setattr(programs, "CAPACITY", 2)
    programs.clear()
    _scaled_power(np.ones(1, np.float32), power=2)  # a visitor's, before the warm-up
    with programs.pinned(), programs.compile_only():
        for n in range(1, 5):
            _scaled_power(np.ones(n, np.float32), power=2)
    assert programs.stats()["pinned"] == 4 and programs.stats()["compiles"] >= 4
    compiles = programs.stats()["compiles"]
    for n in range(5, 9):  # outside the catalogue: the bounded table, 2 at most
        _scaled_power(np.ones(n, np.float32), power=2)
    for n in range(1, 5):  # every pinned one is still there
        np.testing.assert_allclose(_scaled_power(np.ones(n, np.float32), power=2), 2.0)
    assert programs.stats()["compiles"] == compiles + 4
    assert programs.stats()["alive"] == 4 + 2


@programs.jit(static_argnames=("n",))
def _outer(x, *, n):
    # Tracing this calls another program with concrete values: a compile inside a compile.
    inner = _scaled_power(np.ones(n, np.float32), power=3)
    return x + inner.sum()


def test_a_compile_inside_a_compile_does_not_wait_for_itself():
    """A visitor's compile holds the one foreground slot; a program whose tracing compiles
    another (concrete arguments) must not wait for that slot again (it hung the server)."""
    programs.clear()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("x", _outer(np.float32(1), n=7)))
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the nested compile waited for its own slot"
    assert float(result["x"]) == 1.0 + 7 * 2.0


def test_the_run_gate_lets_the_earliest_deadline_in_first_and_never_more_than_its_slots():
    """Waiters enter by when they asked plus PATIENCE times their cost: a cheap program that
    asked later passes a costly one, and at most `slots` hold a turn at once."""
    gate = programs._RunGate(1)
    order, holding, most = [], [0], [0]
    lock = threading.Lock()

    def run(name, cost):
        with gate.turn(cost):
            with lock:
                holding[0] += 1
                most[0] = max(most[0], holding[0])
            order.append(name)
            time.sleep(0.02)
            with lock:
                holding[0] -= 1

    first = threading.Thread(target=run, args=("first", 0.0))
    with gate.turn(0.0):  # hold the only slot while the others queue
        first.start()
        time.sleep(0.05)
        costly = threading.Thread(target=run, args=("costly", 1.0))
        costly.start()
        time.sleep(0.05)
        cheap = threading.Thread(target=run, args=("cheap", 0.001))
        cheap.start()
        time.sleep(0.05)
    for t in (first, costly, cheap):
        t.join(5)
    assert order == ["first", "cheap", "costly"]
    assert most[0] == 1


def test_a_costly_program_waits_at_most_its_patience():
    """Earliest deadline first: a waiter whose deadline has passed goes before any cheap
    program that asks after it."""
    gate = programs._RunGate(1)
    order = []

    def run(name, cost):
        with gate.turn(cost):
            order.append(name)

    with gate.turn(0.0):
        costly = threading.Thread(target=run, args=("costly", 0.001))
        costly.start()
        time.sleep(0.1)  # its deadline (10 ms after it asked) has passed
        cheap = threading.Thread(target=run, args=("cheap", 0.0))
        cheap.start()
        time.sleep(0.05)
    for t in (costly, cheap):
        t.join(5)
    assert order == ["costly", "cheap"]
