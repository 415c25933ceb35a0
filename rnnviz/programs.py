"""Compiled XLA programs, at most `CAPACITY` of them alive at once.

`jax.jit` keeps every program it compiled for as long as the jitted function lives, and
each holds native memory: 1.4 MB for even the smallest, 3-13 MB for a gradient-flow scan
(measured, jax 0.10 on CPU). A server that a class explores with every cell, size and length
would grow without bound. `jit` here compiles each program from a fresh `jax.jit` of the
function, which jax's own caches hold only weakly, and keeps the programs in one table that
drops the least recently used. A dropped program is compiled again when next needed (or
read back from jax's persistent compilation cache, where the app enables it).
"""
import contextlib
import ctypes
import functools
import inspect
import os
import threading
import time
from collections import OrderedDict

import jax

CAPACITY = 48  # at ~3 MB a program (up to ~10 MB for the Jacobian maps at T = 1000)

_programs: OrderedDict = OrderedDict()
_table_lock = threading.Lock()
# One compile at a time: a compile takes tens of MB while it runs, and two cores gain
# nothing from running two. Compiles ahead of need (`in_background`) wait while anyone
# else waits for one.
_compile_lock = threading.Lock()
_compiles_wanted = 0  # threads waiting for _compile_lock outside the background
_background = threading.local()
_counts = {"compiles": 0, "evictions": 0}
_lapack_lock = threading.Lock()  # see `jit(one_at_a_time=True)`
QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jit(fun=None, *, static_argnames: tuple[str, ...] = (), one_at_a_time: bool = False,
        quick_compile: bool = False):
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
    """
    if fun is None:
        return functools.partial(jit, static_argnames=static_argnames,
                                 one_at_a_time=one_at_a_time, quick_compile=quick_compile)
    signature = inspect.signature(fun)
    static_names = tuple(static_argnames)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        static = tuple((name, bound.arguments[name]) for name in static_names)
        dynamic = {k: v for k, v in bound.arguments.items() if k not in static_names}
        options = QUICK_COMPILE if quick_compile else None
        if not one_at_a_time:
            return _run(fun, static, dynamic, options)
        with _lapack_lock:
            return jax.block_until_ready(_run(fun, static, dynamic, options))

    return wrapper


def _run(fun, static: tuple, dynamic: dict, compiler_options: dict | None = None):
    leaves, treedef = jax.tree.flatten(dynamic)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return fun(**dynamic, **dict(static))
    key = (fun, static, treedef, tuple(jax.typeof(x) for x in leaves))
    program = _lookup(key)
    if program is None:
        with _compile_turn():
            program = _lookup(key)  # another thread may have compiled it meanwhile
            if program is None:
                lowered = jax.jit(_fresh(fun, dict(static))).lower(dynamic)
                program = lowered.compile(compiler_options=compiler_options)
                _store(key, program)
                _release_freed_memory()
    return program(dynamic)


@contextlib.contextmanager
def _compile_turn():
    global _compiles_wanted
    if getattr(_background, "active", False):
        while True:
            with _table_lock:
                if _compiles_wanted == 0 and _compile_lock.acquire(blocking=False):
                    break
            time.sleep(0.05)
    else:
        with _table_lock:
            _compiles_wanted += 1
        _compile_lock.acquire()
        with _table_lock:
            _compiles_wanted -= 1
    try:
        yield
    finally:
        _compile_lock.release()


@contextlib.contextmanager
def in_background():
    """Compiles in this block (e.g. ahead of need) give way to every other thread's, and the
    thread runs at the lowest CPU priority (Linux), so that it never slows a visitor."""
    _background.active = True
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
        program = _programs.get(key)
        if program is not None:
            _programs.move_to_end(key)
        return program


def _store(key, program) -> None:
    with _table_lock:
        _programs[key] = program
        _counts["compiles"] += 1
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


def stats() -> dict:
    """Programs alive now, and compiles and evictions since the process started."""
    with _table_lock:
        return {"alive": len(_programs), **_counts}


def clear() -> None:
    """Drop every compiled program (they are compiled again when next used)."""
    with _table_lock:
        _programs.clear()
