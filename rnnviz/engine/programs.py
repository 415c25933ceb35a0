"""Compiled XLA programs: the app's closed catalogue, pinned, and a few others.

`jax.jit` keeps every program it compiled for as long as the jitted function lives, and
each holds native memory: 1.4 MB for even the smallest, 3-13 MB for a gradient-flow scan
(measured, jax 0.10 on CPU). A server that a class explores with every cell, size and length
would grow without bound. `jit` here compiles each program from a fresh `jax.jit` of the
function, which jax's own caches hold only weakly, and keeps the programs in one table that
drops the least recently used. A dropped program is compiled again when next needed (or
read back from jax's persistent compilation cache, where the app enables it).

The programs of rnnviz/experiments/catalogue.py, compiled by the warm-up inside `pinned()`, stay for the
life of the process and do not count against CAPACITY: they are every program a visitor
needs. Anything else (an uploaded model's own shapes) lives in the bounded table.

`compile_only` compiles programs ahead of need without running them (the app's warm-up),
`in_background` makes such compiles give way to visitors, and every run goes through a few
slots (`RUNNING`, the cheapest waiting program first) and, for LAPACK programs, one lock
(see `jit`).
"""
import contextlib
import ctypes
import functools
import gc
import heapq
import inspect
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, NamedTuple

import jax
import numpy as np


class Program(NamedTuple):
    """One compiled program: what it is for, and a call that runs it once at its shapes."""

    family: str  # what computes with it, e.g. "gradient flow"
    label: str  # which one, e.g. "lstm, T ≤ 256, H ≤ 32"
    call: Callable[[], object]  # calls the program at its padded shapes (any values)
    first: bool = False  # a visitor's first view needs it: the warm-up compiles it first


# The bounded table holds what is outside the catalogue: an uploaded model's programs (its
# own shapes), for the sessions using it. At 1.5-13 MB a program alive (measured: a
# Jacobian-map program 2.1 MB, a connectivity map 3.1 MB, a gradient-flow scan up to 13),
# 12 of them are at most ~150 MB. One dropped and needed again is read back from the
# persistent cache (traced and lowered again first: 0.1-1.7 s).
CAPACITY = 12
# Programs compiled ahead of need (`compile_only`) join the table only while it holds fewer
# than this: the first ones (the presets', the defaults') stay in memory, the rest wait in
# the persistent cache, and the table keeps room for what visitors use.
COMPILE_ONLY_KEEPS = CAPACITY // 2

_programs: OrderedDict = OrderedDict()
_pinned: dict = {}  # key -> program: the catalogue's, never dropped
_pinning = threading.local()
_in_flight: dict = {}  # key -> Event set when the thread compiling that program is done
# Programs a visitor waits for while another thread has claimed them: a compile ahead of
# need that holds such a claim takes its turn at once (see `_compile_turn`), else the
# visitor would wait for the class to fall quiet, as it did (14 s, scripts/class_load.py).
_awaited: set = set()
_compiled_before: dict = {}  # key -> output shapes, of every program compiled so far
_table_lock = threading.Lock()
# One visitor's compile at a time: each takes 40-60 MB while it runs (a class that could
# compile two at once peaked at 1060 MB against 758, scripts/class_load.py). Compiles
# ahead of need (`in_background`) have two slots of their own (a visitor never waits for
# one, which runs at the lowest priority), taken only once nobody has compiled, waited to,
# or been active (`note_activity`: a page run) for BACKGROUND_QUIET_S. Tracing a program is
# Python and holds the interpreter's lock, which no CPU priority lowers: a class at work
# keeps the cores, the lock and the memory, and the warm-up goes on in its pauses.
FOREGROUND_COMPILES = 1
BACKGROUND_COMPILES = 2
BACKGROUND_QUIET_S = 5.0
_compile_slots = threading.BoundedSemaphore(FOREGROUND_COMPILES)
_background_slots = threading.BoundedSemaphore(BACKGROUND_COMPILES)
_compiles_wanted = 0  # threads compiling or waiting to, outside the background
_last_wanted = [float("-inf")]  # time.monotonic() of the last visitor compile or activity
_background = threading.local()
_compiling_only = threading.local()
_counts = {"compiles": 0, "evictions": 0}
_lapack_lock = threading.Lock()  # see `jit(one_at_a_time=True)`; taken before a run slot
RUNNING = 2  # XLA's CPU pool already spreads one program over the cores
# A program waiting for a run slot is served by its deadline: when it asked, plus PATIENCE
# times what it took last time. The cheap programs of a slider move (a gradient-flow scan:
# ~10 ms) then pass the deep page's maps queued before them (~100 ms each) instead of
# waiting behind them, and a costly program still runs within PATIENCE times its own cost
# of its turn coming, however busy the class is (earliest deadline first never starves).
PATIENCE = 10.0
UNKNOWN_COST_S = 0.05  # a program not run yet (the warm-up runs each once: rare)


class _RunGate:
    """At most `slots` holders at once; waiters are let in earliest deadline first."""

    def __init__(self, slots: int):
        self._free = slots
        self._waiting: list = []  # heap of (deadline, ticket)
        self._tickets = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def turn(self, cost_s: float):
        with self._cond:
            self._tickets += 1
            ticket = (time.monotonic() + PATIENCE * cost_s, self._tickets)
            heapq.heappush(self._waiting, ticket)
            while self._free == 0 or self._waiting[0] != ticket:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()  # the next waiter may take a second free slot
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()


_run_gate = _RunGate(RUNNING)
_run_costs: dict = {}  # program key -> seconds its last run took
QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jit(fun=None, *, static_argnames: tuple[str, ...] = (), one_at_a_time: bool = False,
        quick_compile: bool = False, light: bool = False):
    """Like ``jax.jit(fun, static_argnames=...)``, with the compiled programs in the shared,
    bounded table. Called inside another trace, `fun` is simply inlined.

    quick_compile: compile with XLA's and LLVM's optimisations off. For programs that run
      once per setting (drawing weights and inputs): their compile time halves (0.8 -> 0.4 s
      for an orthogonal init, measured) and they still run in a millisecond or two.

    one_at_a_time: run at most one call of such programs at once, and wait for its
      results. For programs with LAPACK calls (SVD, QR): jaxlib's CPU kernels for them
      split a batch over XLA's thread pool and block a pool thread until the pieces are
      done, so two running at once on a two-thread pool wait for each other forever
      (seen with 4 threads calling an SVD program: the process hung, jax 0.10).

    light: a program of a few milliseconds (a weight or input draw) runs at once, without
      waiting for a run slot (`RUNNING`): behind a class's maps it waited up to seconds for
      a slot, and nearly every view starts with one.
    """
    if fun is None:
        return functools.partial(jit, static_argnames=static_argnames,
                                 one_at_a_time=one_at_a_time, quick_compile=quick_compile,
                                 light=light)
    signature = inspect.signature(fun)
    static_names = tuple(static_argnames)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        static = tuple((name, bound.arguments[name]) for name in static_names)
        dynamic = {k: v for k, v in bound.arguments.items() if k not in static_names}
        options = QUICK_COMPILE if quick_compile else None
        return _run(fun, static, dynamic, options, one_at_a_time, light)

    return wrapper


def _run(fun, static: tuple, dynamic: dict, compiler_options: dict | None = None,
         one_at_a_time: bool = False, light: bool = False):
    leaves, treedef = jax.tree.flatten(dynamic)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return fun(**dynamic, **dict(static))
    key = (fun, static, treedef, tuple(jax.typeof(x) for x in leaves))
    program = _lookup(key)
    if program is None and compiling_only() and key in _compiled_before and not pinning():
        # Compiled already (into the persistent cache): nothing to do but say its shapes.
        return _zeros(_compiled_before[key])
    while program is None:
        with _table_lock:
            program = _pinned.get(key, _programs.get(key))
            busy = None if program is not None else _in_flight.get(key)
            mine = program is None and busy is None
            if mine:
                _in_flight[key] = threading.Event()
        if busy is not None:  # another thread compiles this very program: wait for it
            visitor = not getattr(_background, "active", False)
            if visitor:
                with _table_lock:
                    _awaited.add(key)
            busy.wait()
            if visitor:
                with _table_lock:
                    _awaited.discard(key)
            program = _lookup(key)  # None if it was compiled only (then from the cache)
            continue
        if mine:
            try:
                with _compile_turn(key):
                    lowered = jax.jit(_fresh(fun, dict(static))).lower(dynamic)
                    program = lowered.compile(compiler_options=compiler_options)
                    _store(key, program, keep=not compiling_only() or pinning())
                    _release_freed_memory()
            finally:
                with _table_lock:
                    _in_flight.pop(key).set()
    if compiling_only():
        return _zeros(program.out_info)
    background = getattr(_background, "active", False)
    if background and one_at_a_time:
        # A thread at the lowest CPU priority never holds the LAPACK lock: on busy cores a
        # visitor's SVD would wait for it as long as the thread starves.
        return _zeros(program.out_info)
    # At most RUNNING programs run at once, each to its end: a class's requests then finish
    # one after another instead of all sharing two cores until late, and their arrays (tens
    # of MB for a map) are not all alive at the same time.
    # A LAPACK program waits for the lock before it takes a run slot: waiting while holding
    # one, two SVD views at once held both slots and stopped every other program.
    # Compiled outside the lock (a compile needs no LAPACK): the lock is held only while the
    # program runs, so that a compile never keeps the others' SVDs waiting.
    # Nor a run slot (the warm-up's first runs of the catalogue, see catalogue.warm_up).
    if light or background:
        with _lapack_lock if one_at_a_time else contextlib.nullcontext():
            return _timed_run(key, program, dynamic)
    with (_lapack_lock if one_at_a_time else contextlib.nullcontext(),
          _run_gate.turn(_run_costs.get(key, UNKNOWN_COST_S))):
        return _timed_run(key, program, dynamic)


def _timed_run(key, program, dynamic):
    """Run a program to its end; note how long it took (its cost at the run gate)."""
    start = time.monotonic()
    out = jax.block_until_ready(program(dynamic))
    _run_costs[key] = time.monotonic() - start
    return out


def _zeros(out_info):
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), out_info)


@contextlib.contextmanager
def compile_only():
    """In this block (this thread), programs are compiled but not run: each call returns
    zeros of its results' shapes and dtypes. For compiling a view's programs ahead of need
    without computing it. A program compiled here joins the table only while the table
    holds fewer than COMPILE_ONLY_KEEPS (it never pushes out programs in use); with jax's
    persistent compilation cache on, it is written there, and reading it back later costs
    its tracing and a load (~0.1-0.3 s) instead of a compile. A program this process has
    compiled before is not even read back here."""
    _compiling_only.active = True
    try:
        yield
    finally:
        _compiling_only.active = False


@contextlib.contextmanager
def pinned():
    """In this block (this thread), every program called is kept for good, outside the
    bounded table: the warm-up compiles the catalogue (rnnviz/experiments/catalogue.py) in it."""
    _pinning.active = True
    try:
        yield
    finally:
        _pinning.active = False


def pinning() -> bool:
    """Whether this thread is in a `pinned` block."""
    return getattr(_pinning, "active", False)


def compiling_only() -> bool:
    """Whether this thread is in a `compile_only` block (its results are placeholders)."""
    return getattr(_compiling_only, "active", False)


@contextlib.contextmanager
def _compile_turn(key=None):
    # A program whose tracing calls another program with concrete values compiles that one
    # inside its own turn: the thread already holds a slot, and waiting for a second one
    # (there is one) would wait for itself forever.
    if getattr(_turn, "held", False):
        yield
        return
    _turn.held = True
    try:
        with _one_turn(key):
            yield
    finally:
        _turn.held = False


_turn = threading.local()


@contextlib.contextmanager
def _one_turn(key=None):
    global _compiles_wanted
    if getattr(_background, "active", False):
        patient = _background.patient
        while True:
            with _table_lock:
                quiet = not patient or time.monotonic() - _last_wanted[0] >= BACKGROUND_QUIET_S
                turn = key in _awaited or (_compiles_wanted == 0 and quiet)
                if turn and _background_slots.acquire(blocking=False):
                    break
            time.sleep(0.05)
        try:
            yield
        finally:
            _background_slots.release()
        return
    with _table_lock:
        _compiles_wanted += 1
        _last_wanted[0] = time.monotonic()
    try:
        with _compile_slots:
            yield
    finally:
        with _table_lock:
            _compiles_wanted -= 1
            _last_wanted[0] = time.monotonic()


def note_activity() -> None:
    """Say that a visitor is active (e.g. a page is running): compiles ahead of need wait
    until BACKGROUND_QUIET_S after the last such call."""
    _last_wanted[0] = time.monotonic()


@contextlib.contextmanager
def in_background(patient: bool = True):
    """Compiles in this block (e.g. ahead of need) give way to every other thread's: one
    starts only when no visitor compiles or waits to, and (patient) when nobody has
    compiled or been active for BACKGROUND_QUIET_S; the thread runs at the lowest CPU
    priority (Linux), so that it never slows a visitor. A program run in it (the warm-up's
    first runs) takes no run slot, and a LAPACK one is not run (zeros, as `compile_only`
    gives): a visitor never waits for a resource this starving thread holds."""
    _background.active, _background.patient = True, patient
    niceness = _set_thread_niceness(19)
    try:
        yield
    finally:
        _background.active = False
        if niceness is not None:
            _set_thread_niceness(niceness)  # back up, where the process may


def _set_thread_niceness(value: int) -> int | None:
    """Set this thread's nice value (Linux: per thread); returns the old one, or None."""
    try:
        tid = threading.get_native_id()
        old = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, value)
        return old
    except (AttributeError, OSError):  # not Linux, or not allowed: priority unchanged
        return None


def _fresh(fun, static: dict):
    """A new function object per program: when the table drops the program, nothing else
    keeps it alive (jax's own caches are weak-keyed on the function)."""

    def program(dynamic):
        return fun(**dynamic, **static)

    program.__name__ = program.__qualname__ = fun.__name__  # names it in XLA's logs
    return program


def _lookup(key):
    with _table_lock:
        program = _pinned.get(key)
        if program is not None:
            return program
        program = _programs.get(key)
        if program is not None:
            if pinning():  # a visitor compiled it before the warm-up came to it
                _pinned[key] = _programs.pop(key)
            else:
                _programs.move_to_end(key)
        return program


def _store(key, program, keep: bool = True) -> None:
    with _table_lock:
        _counts["compiles"] += 1
        _compiled_before[key] = program.out_info  # shapes only: a few hundred bytes
        if pinning():
            _pinned[key] = program
            return
        if not keep and len(_programs) >= COMPILE_ONLY_KEEPS:
            return
        _programs[key] = program
        while len(_programs) > CAPACITY:
            _programs.popitem(last=False)
            _counts["evictions"] += 1


def _glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()


def _release_freed_memory() -> None:
    """Hand the memory a compile (or an evicted program) freed back to the system: glibc keeps
    freed pages inside its heaps, and a compile frees tens of MB in small pieces."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def limit_malloc_arenas(n: int) -> None:
    """At most n glibc heaps for the process's threads (glibc's default: 8 per core).

    Memory freed in one heap is not reused by a thread allocating in another, so a server
    whose requests run in many threads holds much more than it uses. No-op off glibc."""
    M_ARENA_MAX = -8
    if _LIBC is not None:
        _LIBC.mallopt(M_ARENA_MAX, n)


def mmap_large_allocations(threshold_bytes: int) -> None:
    """Serve every allocation of at least `threshold_bytes` by its own mmap, returned to the
    system when freed. glibc otherwise raises this threshold to the largest block freed so
    far (up to 32 MB), after which large arrays stay in its heaps. No-op off glibc."""
    M_MMAP_THRESHOLD = -3
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, threshold_bytes)


def freeze_long_lived() -> None:
    """Collect, then move every object alive now out of the garbage collector's view
    (`gc.freeze`).

    Compiling the catalogue leaves a few hundred thousand long-lived objects (the traced
    programs' metadata among them), and each full collection walks them all with the
    interpreter's lock held: 80-130 ms on an idle server, 650-800 ms during the warm-up
    (measured), while no request moves. Frozen, they are never scanned again. Called after
    each compile, a collection scans only what appeared since the last call."""
    gc.collect()
    gc.freeze()


def stats() -> dict:
    """Programs alive now (pinned ones included), how many are pinned, and compiles and
    evictions since the process started."""
    with _table_lock:
        return {"alive": len(_programs) + len(_pinned), "pinned": len(_pinned), **_counts}


def clear() -> None:
    """Drop every compiled program (they are compiled again when next used)."""
    with _table_lock:
        _programs.clear()
        _pinned.clear()
        _compiled_before.clear()
