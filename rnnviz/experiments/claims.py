"""Sentences about curves, computed from the curves they describe.

A headline that states a quantity ("falls 10× every 24 steps", "within a factor of 3")
is only ever produced here, from the same array the chart draws, by rules a test checks
against the array: a rate is quoted only when the decay is close to geometric, a curve
that spans ten times or more is never called flat, and an uneven fall says where it
happens.
"""
from typing import NamedTuple

import numpy as np

from rnnviz.engine.bptt import FLOOR, no_dependence
from rnnviz.engine.tasks import COPY_LENGTH, Task

# A curve is "geometric" when no point lies further than this from its straight-line fit
# in log10 units, relative to the decades it spans (and never more than MAX_DEVIATION).
GEOMETRIC_TOLERANCE = 0.1
MAX_DEVIATION = 1.0  # decades
# "Most of the change" is this share of its decades; "concentrated" is within this
# fraction of the sequence.
MOST = 0.8
CONCENTRATED = 0.25
FLAT_SPAN = 10.0


class ProfileFacts(NamedTuple):
    """What a sentence may say about a profile ‖·‖_t, t = 0 … T−1 (going back from T−1)."""

    T: int
    resolved: int  # number of finite values at or above FLOOR
    span: float | None  # max / min over resolved values
    change: float | None  # norm[first resolved] / norm[T−1]: > 1 grew going back, < 1 fell
    first_resolved: int | None  # earliest step with a resolved value
    below_floor_from: int | None  # latest step below FLOOR (every earlier one likely too)
    geometric: bool
    steps_per_decade: float | None  # from the line fit, when geometric
    direction: str | None  # "falls", "grows", "flat", "uneven" or None (nothing resolved)
    # Where most of the change happens, when it is concentrated: (steps, factor, "late"
    # for the steps just before T−1, "early" for the first steps of the sequence).
    concentrated: tuple | None
    # A fast change in the last steps before T−1, then a steady one: (k, factor over those
    # k steps, ("rate", steps per decade, "falls"/"grows") or ("flat", span)).
    phases: tuple | None
    largest_step: int | None
    smallest_step: int | None
    nonfinite_from: int | None  # latest step holding inf/NaN (an overflow going back)
    # Steps where it is exactly 0 with no path to the loss (`bptt.no_dependence`): not
    # "below 1e-30", which is kept for tiny values and for zeros float32 flushed.
    no_path_steps: tuple = ()


def format_factor(x: float) -> str:
    """A factor ≥ 1 for text: 2 significant digits, scientific from 10 000 on."""
    if x >= 1e4:
        mantissa, exponent = f"{x:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:.2g}" if x < 100 else f"{x:.0f}"


def format_value(x: float) -> str:
    """A magnitude for text, 2 significant digits: 0.069, 3.4, 6.5e-4, 2.1e5."""
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    if 1e-2 <= abs(x) < 1e4:
        return f"{x:.2g}" if abs(x) < 100 else f"{x:.0f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def round_up(x: float) -> float:
    """x rounded up to 2 significant digits, so "within a factor of X" stays true."""
    if x <= 0 or not np.isfinite(x):
        return x
    e = np.floor(np.log10(x)) - 1
    return float(np.ceil(x / 10**e - 1e-9) * 10**e)


def profile_facts(norms, floor: float = FLOOR) -> ProfileFacts:
    """Facts of a profile that the headline may state. Time runs forward in `norms`."""
    v = np.asarray(norms, np.float64)
    T = v.size
    t = np.arange(T)
    finite = np.isfinite(v)
    nonfinite_from = int(t[~finite].max()) if (~finite).any() else None
    ok = finite & (v >= floor)
    zero = no_dependence(v, floor)
    below = finite & (v < floor) & ~zero
    below_from = int(t[below].max()) if below.any() else None
    no_path = tuple(int(i) for i in t[zero])
    none = ProfileFacts(T, int(ok.sum()), None, None, None, below_from, False, None, None,
                        None, None, None, None, nonfinite_from, no_path)
    if ok.sum() < 2 or not ok[-1]:
        return none
    logs = np.log10(v[ok])
    ts = t[ok]
    span = float(10 ** (logs.max() - logs.min()))
    change = float(10 ** (logs[0] - logs[-1]))
    largest, smallest = int(ts[np.argmax(logs)]), int(ts[np.argmin(logs)])
    decades = logs.max() - logs.min()
    steps = geometric_rate(ts, logs)
    geometric = steps is not None
    if span < FLAT_SPAN:
        direction = "flat"
    elif abs(np.log10(change)) < MOST * decades:  # the ends do not carry the change
        direction = "uneven"
    else:
        direction = "falls" if change < 1 else "grows"
    concentrated = phases = None
    if direction in ("falls", "grows") and not geometric:
        phases = _two_phases(ts, logs)
        if phases is None:
            concentrated = _concentration(ts, logs)
    return ProfileFacts(T, int(ok.sum()), span, change, int(ts[0]), below_from, geometric,
                        steps, direction, concentrated, phases, largest, smallest,
                        nonfinite_from, no_path)


def geometric_rate(ts, logs) -> float | None:
    """Steps per decade if log10 values lie close to a line spanning ≥ 1 decade, else None."""
    decades = logs.max() - logs.min()
    if ts.size < 3 or decades < 1.0:
        return None
    slope, intercept = np.polyfit(ts, logs, 1)
    deviation = np.max(np.abs(logs - (slope * ts + intercept)))
    if deviation > min(GEOMETRIC_TOLERANCE * decades, MAX_DEVIATION):
        return None
    return float(1.0 / abs(slope))


def _two_phases(ts, logs) -> tuple | None:
    """(k, factor, rest) when the last k steps (k ≤ CONCENTRATED of the sequence) change
    the norm by `factor` and the earlier steps are steady: rest = ("rate", steps per
    decade, "falls"/"grows") or ("flat", span). None if no such split exists."""
    n = ts[-1] - ts[0]
    for k in range(1, int(CONCENTRATED * n) + 1):
        early = ts <= ts[-1] - k
        if early.sum() < 3 or ts[early].max() != ts[-1] - k:
            continue  # the split must fall on a resolved step
        e_ts, e_logs = ts[early], logs[early]
        factor = float(10 ** (e_logs[-1] - logs[-1]))
        if abs(np.log10(factor)) < 1.0:
            continue  # the late phase must itself be a change of at least 10×
        span = float(10 ** (e_logs.max() - e_logs.min()))
        if span < FLAT_SPAN:
            return k, factor, ("flat", span)
        rate = geometric_rate(e_ts, e_logs)
        if rate is not None:
            return k, factor, ("rate", rate, "falls" if e_logs[0] < e_logs[-1] else "grows")
    return None


def _concentration(ts, logs) -> tuple | None:
    """(steps, factor, end) if MOST of the change between the first resolved step and T−1
    happens within CONCENTRATED of the sequence at one end (and stays done), else None."""
    done = (logs - logs[-1]) / (logs[0] - logs[-1])  # 0 at T−1, 1 at the first step
    n = ts[-1] - ts[0]
    # "late": the steps just before T−1. Every earlier step has done MOST of the change.
    before = np.cumprod(done >= MOST).astype(bool)
    if before.any():
        i = np.nonzero(before)[0].max()
        if ts[-1] - ts[i] <= CONCENTRATED * n:
            return int(ts[-1] - ts[i]), float(10 ** abs(logs[i] - logs[-1])), "late"
    # "early": the first steps. Every later step has at most 1 − MOST of the change left.
    after = np.flip(np.cumprod(np.flip(done <= 1 - MOST))).astype(bool)
    if after.any():
        j = np.nonzero(after)[0].min()
        if ts[j] - ts[0] <= CONCENTRATED * n:
            return int(ts[j] - ts[0]), float(10 ** abs(logs[0] - logs[j])), "early"
    return None


def profile_headline(facts: ProfileFacts, quantity: str = "the gradient",
                     lead: str = "Going back in time, ", step_of=None, part: bool = False
                     ) -> str:
    """One sentence about a profile, true of it (tests/test_claims.py checks the rules).

    Args:
      quantity: what the curve is, as the sentence's subject.
      lead: words before the subject; "" starts the sentence with the quantity.
      step_of: maps an index of the profile to the step number to print (for a profile
        taken in reverse, e.g. a backward direction's); the identity by default.
      part: the profile is a part of a longer curve, which `lead` names ("From step 57
        back to step 0 (58 of the 276 steps), "): the sentence says "these 58 steps",
        never "all 58 steps".
    """
    f, T = facts, facts.T
    step_of = step_of or (lambda i: i)
    no_path = step_ranges([step_of(i) for i in f.no_path_steps])
    f = f._replace(**{name: None if getattr(f, name) is None else step_of(getattr(f, name))
                      for name in ("nonfinite_from", "below_floor_from", "largest_step",
                                   "smallest_step")})
    if f.nonfinite_from is not None:
        body = f"{quantity} left float32's range (inf/NaN) at step {f.nonfinite_from}"
    elif f.direction is None:
        body = f"too few values of {quantity} are resolvable (≥ 1e-30) to say how it changes"
    else:
        body = _profile_body(f, T, quantity, part)
        if f.below_floor_from is not None:
            body += f"; from step {f.below_floor_from} back it is below 1e-30"
    if no_path and f.nonfinite_from is None:
        body += f"; at {no_path} it is exactly 0: {NO_PATH}"
    text = lead + body + "."
    return text[0].upper() + text[1:] if lead else text


NO_PATH = "no path from there to the loss"


def step_ranges(steps) -> str:
    """Steps as text by runs: "step 5", "steps 0–98", "steps 0–3 and 7–9"; "" for none."""
    s = sorted(int(i) for i in steps)
    if not s:
        return ""
    runs, start = [], s[0]
    for prev, cur in zip(s, s[1:] + [None]):
        if cur != prev + 1:
            runs.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = cur
    word = "step" if len(s) == 1 else "steps"
    return f"{word} " + (runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1])


def whole_curve_sentence(norms, floor: float = FLOOR) -> str:
    """What a whole profile spans, for a sentence that described only part of it:
    "Over all 276 steps it spans 4.8× (largest at step 57, smallest at step 275)." Only
    values ≥ floor count (said so when some are not); "" without two of them."""
    v = np.asarray(norms, np.float64)
    ok = np.isfinite(v) & (v >= floor)
    if ok.sum() < 2:
        return ""
    t = np.arange(v.size)[ok]
    largest, smallest = int(t[np.argmax(v[ok])]), int(t[np.argmin(v[ok])])
    where = "" if ok.all() else ", where it is at least 1e-30,"
    return (f"Over all {v.size} steps{where} it spans {format_factor(v[ok].max() / v[ok].min())}× "
            f"(largest at step {largest}, smallest at step {smallest}).")


def _steps(k: int) -> str:
    return "step" if k == 1 else f"{k} steps"


def _profile_body(f: ProfileFacts, T: int, quantity: str, part: bool = False) -> str:
    if f.direction == "flat":
        return (f"{quantity} stays within a factor of {format_factor(round_up(f.span))} over "
                f"{'these' if part else 'all'} {T} steps")
    if f.direction == "uneven":
        return (f"{quantity} spans {format_factor(f.span)}× over {T} steps, not monotonically: "
                f"largest at step {f.largest_step}, smallest at step {f.smallest_step}")
    verb = "falls" if f.direction == "falls" else "grows"
    factor = format_factor(f.change if f.change >= 1 else 1.0 / f.change)
    covered = T - 1 - f.first_resolved
    if f.geometric:
        return (f"{quantity} {verb} 10× every {f.steps_per_decade:.1f} steps ({factor}× over "
                f"{covered} steps)")
    if f.phases is not None:
        k, part, rest = f.phases
        late = f"{'falls' if part < 1 else 'grows'} {format_factor(max(part, 1 / part))}×"
        if rest[0] == "rate":
            then = f"then {rest[2]} 10× every {rest[1]:.1f} steps"
        else:
            then = (f"then stays within a factor of {format_factor(round_up(rest[1]))} over "
                    f"the {T - 1 - k - f.first_resolved} steps before")
        return f"{quantity} {late} in the last {_steps(k)}, {then} ({factor}× over {covered} steps)"
    head = f"{quantity} {verb} {factor}× over {covered} steps"
    if f.concentrated is not None:
        k, part, end = f.concentrated
        where = (f"in the last {_steps(k)}" if end == "late"
                 else f"in the first {_steps(k)} of the sequence")
        return f"{head}; {format_factor(part)}× of that {where}"
    return f"{head}, at an uneven rate (not 10× per fixed number of steps)"


def rate_metric(facts: ProfileFacts) -> tuple[str, str, str]:
    """(label, value, help) of the page's headline number, consistent with the sentence."""
    if facts.geometric and facts.steps_per_decade is not None:
        return ("Steps back per 10× change", f"{facts.steps_per_decade:.1f}",
                "From a straight-line fit of log10‖·‖ against t; the curve lies within "
                f"{GEOMETRIC_TOLERANCE:.0%} of its decades of that line.")
    if facts.phases is not None and facts.phases[2][0] == "rate":
        k = facts.phases[0]
        return (f"Steps back per 10×, before the last {k}", f"{facts.phases[2][1]:.1f}",
                f"The last {k} steps change the gradient {format_factor(max(facts.phases[1], 1 / facts.phases[1]))}×; "
                "the steps before follow a straight line in log10‖·‖.")
    if facts.direction in ("falls", "grows"):
        factor = facts.change if facts.change >= 1 else 1.0 / facts.change
        word = "smaller" if facts.direction == "falls" else "larger"
        return (f"At step {facts.first_resolved} vs step {facts.T - 1}",
                f"{format_factor(factor)}× {word}",
                "Not a steady rate: the fall is uneven, so no 'steps per 10×' is quoted.")
    if facts.direction in ("flat", "uneven"):
        return ("Range over all steps", f"{format_factor(round_up(facts.span))}×",
                "Largest over smallest resolvable value.")
    return ("Steps back per 10× change", "—", "Nothing resolvable to measure.")


def max_ratio(a, b, floor: float = FLOOR) -> float | None:
    """max over t of max(a/b, b/a) where both are resolvable: how far apart two curves get."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a >= floor) & (b >= floor)
    if not ok.any():
        return None
    r = a[ok] / b[ok]
    return float(np.max(np.maximum(r, 1.0 / r)))


def max_relative_gap(a, b, floor: float = FLOOR) -> float | None:
    """max over resolvable t of |a − b| / b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a >= floor) & (b >= floor)
    return float(np.max(np.abs(a[ok] - b[ok]) / b[ok])) if ok.any() else None


def growth_per_step(norms, end: int | None = None, floor: float = FLOOR) -> float | None:
    """Geometric-mean factor per step of a forward quantity (‖h_t‖) over its resolvable
    steps before `end` (exclusive), from the first to the last of them."""
    v = np.asarray(norms, np.float64)[:end]
    t = np.arange(v.size)
    ok = np.isfinite(v) & (v >= floor)
    if ok.sum() < 2:
        return None
    a, b = t[ok].min(), t[ok].max()
    return float((v[b] / v[a]) ** (1.0 / (b - a)))


AT_BASELINE = 1.25  # a final loss within this factor of the baseline counts as "at" it
LAST_STEPS = 20  # a run's final loss is the mean over its last this many steps


def format_number(x: float) -> str:
    return f"{x:.3g}"


def final_loss(losses) -> float:
    """Mean training loss over the last LAST_STEPS steps (one batch's loss is noisy)."""
    v = np.asarray(losses, np.float64)[-LAST_STEPS:]
    return float(np.mean(v)) if v.size else float("nan")


def first_below(losses, level: float) -> int | None:
    """The first training step (1-based) whose loss is below `level`, or None."""
    v = np.asarray(losses, np.float64)
    hit = np.nonzero(np.isfinite(v) & (v < level))[0]
    return int(hit[0]) + 1 if hit.size else None


def training_outcome(label: str, losses, baseline: float, diverged: bool = False) -> str:
    """One sentence about a finished run against the task's no-memory baseline."""
    v = np.asarray(losses, np.float64)
    if diverged or not np.isfinite(v).all():
        return f"{label} diverged (its loss overflowed) at step {int(np.argmax(~np.isfinite(v))) + 1}."
    end = final_loss(v)
    ratio = baseline / end
    if 1 / AT_BASELINE < ratio < AT_BASELINE:
        return (f"{label} ends at loss {end:.3g} (mean of its last {LAST_STEPS} steps), "
                f"within {format_factor(round_up(max(ratio, 1 / ratio)))}× of the no-memory "
                f"baseline {baseline:.3g}: it has not learned to use the past.")
    if ratio <= 1 / AT_BASELINE:
        return (f"{label} ends at loss {format_number(end)} (mean of its last {LAST_STEPS} "
                f"steps), {format_factor(1 / ratio)}× above the no-memory baseline "
                f"{baseline:.3g}; its loss peaked at {v.max():.1e} at step {int(np.argmax(v)) + 1}.")
    step = first_below(v, baseline / 2)
    when = "" if step is None else f"; it first fell below half the baseline at step {step}"
    return (f"{label} ends at loss {end:.3g} (mean of its last {LAST_STEPS} steps), "
            f"{format_factor(ratio)}× below the no-memory baseline {baseline:.3g}{when}.")


# --- Compare cells: why the GRU fades fastest ------------------------------------------

# Update-gate biases tried on Compare cells to show what opens the GRU's direct path.
RAISED_UPDATE_BIASES = (1.0, 2.0, 3.0, 4.0, 5.0)


def steady_rate(facts: ProfileFacts) -> float | None:
    """Steps per 10× of a falling profile's steady part: the whole curve's rate when it is
    geometric, else the rate before a fast change in its last steps; None otherwise."""
    if facts.direction == "falls" and facts.geometric and facts.steps_per_decade is not None:
        return float(facts.steps_per_decade)
    if facts.phases is not None and facts.phases[2][0] == "rate" and facts.phases[2][2] == "falls":
        return float(facts.phases[2][1])
    return None


def gru_fades_fastest(results: dict) -> bool:
    """Whether, of the compared cells (cell -> one_layer.FlowResult), the GRU's gradient
    falls going back and delivers the least to step 0 (every curve finite)."""
    if "gru" not in results or len(results) < 2:
        return False
    if not all(np.isfinite(r.grad_norms).all() for r in results.values()):
        return False
    at_0 = {c: float(r.grad_norms[0]) for c, r in results.items()}
    return (results["gru"].facts.direction == "falls"
            and all(at_0["gru"] < v for c, v in at_0.items() if c != "gru"))


def raised_update_biases(bias: float) -> tuple:
    """The update-gate biases above `bias` to try (RAISED_UPDATE_BIASES)."""
    return tuple(b for b in RAISED_UPDATE_BIASES if b > bias)


def _carries_further(r, best: float) -> bool:
    """A raised GRU's run that the note may name, delivering more to step 0 than `best`."""
    return (np.isfinite(r.grad_norms).all() and "z" in r.forward.gate_means
            and r.grad_norms[0] > best)


def raised_gru_runs(results: dict, bias: float, run) -> dict:
    """What `gru_update_gate_note` needs of the raised GRU: run(b) for the biases of
    `raised_update_biases(bias)` in increasing order, up to the first that delivers more
    to step 0 than every other compared cell (the one the note names); all of them when
    none does. Empty unless the GRU fades fastest."""
    if not gru_fades_fastest(results):
        return {}
    best = max(float(r.grad_norms[0]) for c, r in results.items() if c != "gru")
    raised = {}
    for b in raised_update_biases(bias):
        raised[b] = run(b)
        if _carries_further(raised[b], best):
            break
    return raised


def _amount(x: float) -> str:
    return f"{x:.1e}" if x >= FLOOR else "less than 1e-30"


def gru_update_gate_note(results: dict, bias: float, raised: dict) -> str | None:
    """Why the GRU fades fastest of the compared cells, and what update-gate bias b_z
    makes it carry the gradient; None unless it does fade fastest.

    Args:
      results: cell -> one_layer.FlowResult of the compared cells at update-gate bias `bias`.
      raised: b_z -> FlowResult of the same GRU at larger biases (`raised_update_biases`).
        The sentence names the smallest that delivers more to step 0 than every other
        cell, else the one that delivers most.
    """
    if not gru_fades_fastest(results):
        return None
    from rnnviz.engine.cells import CELL_LABELS

    gru = results["gru"]
    z = gru.forward.gate_means.get("z")
    if z is None or not np.isfinite(z):
        return None
    text = (f"Why the GRU fades fastest: {profile_headline(gru.facts, 'its gradient', lead='')} "
            f"With update-gate bias b_z = {bias:g} its update gates average z = {z:.2f} "
            f"(σ({bias:g}) = {1 / (1 + np.exp(-bias)):.2f}). A GRU carries its state over as "
            "h_t = (1 − z) ⊙ n_t + z ⊙ h_{t−1}, so along that direct path each step back keeps "
            f"only a fraction z ≈ {z:.2f} of the gradient.")
    others = {c: float(r.grad_norms[0]) for c, r in results.items() if c != "gru"}
    best = max(others, key=others.get)
    tried = {b: r for b, r in raised.items()
             if np.isfinite(r.grad_norms).all() and "z" in r.forward.gate_means}
    if not tried:
        return text
    beat = [b for b in sorted(tried) if _carries_further(tried[b], others[best])]
    b = beat[0] if beat else max(tried, key=lambda k: tried[k].grad_norms[0])
    r = tried[b]
    v = float(r.grad_norms[0])
    said = profile_headline(r.facts, "the same GRU's gradient", lead="")[:-1]
    return (f"{text} A larger bias opens that path: at b_z = {b:g} (mean z = "
            f"{r.forward.gate_means['z']:.2f}) {said}, and {_amount(v)} reaches step 0, "
            f"{'more' if v > others[best] else 'less'} than the {CELL_LABELS[best]}'s "
            f"{_amount(others[best])}.")


# --- Training lab: truncated backpropagation through time ----------------------------------


def truncation_reach(profile) -> int | None:
    """The first step whose ‖∂ℓ/∂h_t‖ in `profile` (L,) is not exactly 0 (None: none is)."""
    reached = np.flatnonzero(np.asarray(profile) != 0)
    return int(reached[0]) if reached.size else None


def truncation_outcome(k: int, task: Task, T: int, profiles: dict) -> str:
    """What truncation after k steps left of a run's gradient: for a task scored at its last
    step, read from each cell's last profile (label -> ‖∂ℓ/∂h_t‖ (L,)) and set against the
    steps the task's memory needs; for a task scored at every step, its chunks."""
    L = task.length(T)
    if k >= L:
        return (f"Truncation after k = {k} steps cuts nothing in sequences of {L} steps: "
                "this run is full backpropagation through time.")
    if task.placement == "last":
        reach = {label: truncation_reach(p) for label, p in profiles.items()}
        starts = set(reach.values())
        if None in starts or len(starts) != 1:
            return (f"Truncated after k = {k} steps: "
                    + "; ".join(f"{label}'s gradient reaches back to step {s}"
                                for label, s in reach.items()) + ".")
        s = starts.pop()
        text = (f"Truncated after k = {k} steps, the loss at step {L - 1} sends its gradient "
                f"back to steps {s}–{L - 1} only: before step {s}, ‖∂ℓ/∂h_t‖ is exactly 0.")
        if task.name == "adding":
            half = L // 2
            within = max(0, half - s) / half
            where = (f"The first marked number always lies in steps 0–{half - 1}, out of "
                     "that reach" if within == 0 else
                     f"The first marked number lies in steps 0–{half - 1}, only "
                     f"{within:.0%} of its positions within that reach")
            # Measured (README): an LSTM at chrono init still learns at k = 1 (its forget
            # gates keep what enters; only writing it must be learned, one step's gradient);
            # at PyTorch's init it stays at the baseline for k = 10 and learns at k = 50.
            text += (f" {where}: what the network learns about it comes only through weights "
                     "shared with the steps the gradient reaches.")
        return text
    text = (f"Truncated after k = {k} steps, each step's loss sends its gradient back only to "
            f"the start of its chunk of k steps (steps 0, {k}, {2 * k}, …).")
    if task.name == "copy":
        recall = range(L - COPY_LENGTH, L)
        reaching = sum((r // k) * k < COPY_LENGTH for r in recall)  # its chunk starts there
        text += (f" The symbols to copy sit in steps 0–{COPY_LENGTH - 1} and are recalled in "
                 f"steps {recall[0]}–{recall[-1]}: "
                 + ("none of the recall steps' gradients reach them, so the network cannot "
                    "learn to copy." if reaching == 0 else
                    f"{reaching} of the {COPY_LENGTH} recall steps have a chunk that starts "
                    "among them and reach some of them."))
    return text
