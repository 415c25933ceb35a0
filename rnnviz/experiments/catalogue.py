"""Every XLA program the app runs for a visitor, at the padded shapes it runs at.

What a student can change is data, not shape: lengths are padded to a few maxima, widths
to a few padded widths, layers and directions are masks, and loss positions, targets and
step counts are arrays. So the app needs a closed set of programs, listed here. The
warm-up compiles exactly this list (`rnnviz.presentation.ui.start_warm_up`), the program table keeps
all of it (`programs.pinned`), and a test proves that after the warm-up no page compiles
anything for a visitor (tests/test_no_compile.py). An uploaded model is the one exception:
its own shapes, its own programs, for that session only.

Each experiment module lists its own programs (a `catalogue()` function returning
`Program`s); a new page adds its few programs there.
"""
from rnnviz.engine.programs import Program


def programs() -> list[Program]:
    """The whole catalogue, the programs a visitor waits for first at the front."""
    from rnnviz.engine import chars, init, seq2seq, train
    from rnnviz.experiments import agreement, architectures, deep, one_layer, text_lab

    listed = (init.catalogue() + one_layer.catalogue() + deep.catalogue() + train.catalogue()
              + agreement.catalogue() + architectures.catalogue() + seq2seq.catalogue()
              + chars.catalogue() + text_lab.catalogue())
    return [p for p in listed if p.first] + [p for p in listed if not p.first]


def counts() -> dict[str, int]:
    """Programs per family, for the README and the logs."""
    out: dict[str, int] = {}
    for p in programs():
        out[p.family] = out.get(p.family, 0) + 1
    return out


def warm_up(entries, should_stop=lambda: False, on_error=None, patient: bool = True) -> int:
    """Compile the programs of `entries` (an iterable of Programs), then run each once,
    pinned for good (`programs.pinned`), in the background (`programs.in_background`: at the
    lowest priority, giving way to every visitor's compile, and if `patient` pausing while
    visitors are active). Returns how many it compiled.

    Safe to run from several threads over one shared iterator (each takes the next entry).
    An entry that fails is skipped and reported to on_error(program, error).
    """
    import numpy as np

    from rnnviz.engine import programs as table

    done = 0
    with table.in_background(patient), table.pinned(), np.errstate(all="ignore"):
        for program in entries:
            if should_stop():
                break
            try:
                with table.compile_only():
                    program.call()
                # Then run once, on its placeholder inputs: a program's first call sets up
                # jax's dispatch path and XLA's buffers, and a class arriving after a
                # warm-up that only compiled paid for that in its first minute (p95 of
                # the requests after the first 30: 0.87 -> 0.50 s, scripts/class_load.py).
                # In the background it holds no run slot and skips LAPACK programs, so a
                # visitor never waits for this low-priority thread (programs._run).
                program.call()
                done += 1
                # What the trace left alive is kept for good: out of the collector's sight,
                # each compile's new objects are scanned once, not again at every full
                # collection (see programs.freeze_long_lived).
                table.freeze_long_lived()
            except Exception as e:  # noqa: BLE001  (a warm-up never stops the server)
                if on_error is not None:
                    on_error(program, e)
    return done
