"""Named classroom scenarios: a page, its settings, and what to say about them.

A preset's `intro` says what its settings are and what to do; it states no result. What
the result shows is said by its `narrate` function, computed from the page's own numbers
(`tests/test_presets.py` checks every claim of every preset against them).
"""
from typing import Callable, NamedTuple

import numpy as np

from rnnviz.engine.cells import CELL_LABELS
from rnnviz.engine.config import to_query
from rnnviz.experiments import claims


class Preset(NamedTuple):
    """One scenario; `query` holds URL parameters, unspecified ones take their defaults."""

    name: str
    page: str
    query: dict
    intro: str
    # The page's result -> sentences about it: a one_layer.FlowResult on Gradient flow, a
    # dict cell -> FlowResult on Compare cells, a dict cell -> train.History in the
    # Training lab (None before a run, when only the intro is shown).
    narrate: Callable | None = None


FLOW = "pages/1_Gradient_flow.py"
COMPARE = "pages/2_Compare_cells.py"
LAB = "pages/6_Training_lab.py"
DEEP = "pages/8_Deep_bidirectional.py"


def _after(norms, steps: int) -> float:
    """‖∂L/∂h‖ `steps` steps back from the last step."""
    return float(np.asarray(norms)[-1 - steps])


def _vanishing(r) -> str:
    bound_steps = 1.0 / -np.log10(r.lambda1)
    return (f"Each step back multiplies the gradient by at most γλ₁ = {r.lambda1:.2f}, which "
            f"alone would give 10× every {bound_steps:.1f} steps. The curve falls faster, 10× "
            f"every {r.steps_per_decade:.1f} steps, because tanh′ < 1 as well (the forward-pass "
            f"panel: mean tanh′ = {r.forward.mean_slope:.2f}). 100 steps back, ‖∂L/∂h_t‖ is "
            f"{_after(r.grad_norms, 100):.0e}.")


def _exploding(r) -> str:
    gap = claims.max_relative_gap(r.grad_norms, r.bound)
    return (f"With zero inputs the state stays at 0, where tanh′ = 1, so each step back "
            f"multiplies the gradient by exactly λ₁ = {r.lambda1:.2f}: it grows 10× every "
            f"{r.steps_per_decade:.1f} steps. The dashed bound (γλ₁)^(T−1−t) lies on the curve "
            f"(they differ by at most {gap:.1e} relative).")


def _edge_of_chaos(r) -> str:
    return (f"W_hh preserves norms (λ₁ = {r.lambda1:.2f}), yet going back in time "
            f"{claims.profile_headline(r.facts, lead='')} "
            f"The inputs push units into tanh's flat tails: the mean tanh′ is "
            f"{r.forward.mean_slope:.2f} (forward-pass panel). Try gain 1.05 or 1.2.")


def _irnn(r) -> str:
    return (f"With relu and W_hh = I, active units pass the gradient back unchanged. Over "
            f"{r.facts.T - 1} steps it falls only {1 / r.facts.change:.0f}×. "
            f"{r.forward.mean_slope:.0%} of the units are active on average; each inactive "
            "one stops the gradient through it.")


def relu_cutoff(r) -> tuple[int, int, float] | None:
    """Where a relu RNN's gradient becomes exactly 0 because no unit passes it back.

    Returns (n, carrying, alone): ∂L/∂h_t is exactly 0 at every step t ≤ n, and at step
    n + 1 it was nonzero in `carrying` (sequence, unit) entries, none of whose units was
    active (relu′ = 0); `alone` is ‖∂L/∂h_{n+1}‖·λ₁, what W_hh's factor alone would give at
    step n. None where the result shows no such cut.
    """
    if r.grad_units is None or r.passing_units is None:
        return None
    zero = np.asarray(r.grad_norms) == 0
    if not zero[0] or zero.all():
        return None
    n = int(np.argmin(zero)) - 1  # the last of the leading exact zeros
    carrying, passing = int(r.grad_units[n + 1]), int(r.passing_units[n + 1])
    if carrying == 0 or passing != 0:
        return None
    return n, carrying, float(r.grad_norms[n + 1]) * r.lambda1


def _scaled_identity(r) -> str:
    lead = (f"W_hh = {r.lambda1:.2g}·I: each step back multiplies the gradient by at most "
            f"{r.lambda1:.2g}, so it falls 10× every {r.steps_per_decade:.2f} steps")
    cut = relu_cutoff(r)
    if cut is None:
        below = r.facts.below_floor_from
        tail = "" if below is None else f" and is below 1e-30 from step {below} back"
        return f"{lead}{tail}. Compare with the IRNN preset."
    n, carrying, alone = cut
    return (f"{lead}. From step {n} back it is not small but exactly 0: at step {n + 1} the "
            f"gradient was left in {carrying} units (counted over all sequences), and every "
            f"one of them was inactive there (relu′ = 0), so none passes it back. The "
            f"×{r.lambda1:.2g} per step alone would give about {alone:.0e} at step {n}. "
            "Compare with the IRNN preset.")


def _forget_bias_0(r) -> str:
    f = r.forward.gate_means["f"]
    gap = claims.max_ratio(r.grad_norms, r.cell_grad_norms)
    per_step = 10 ** (-1.0 / r.steps_per_decade)
    return (f"With b_f = 0 the forget gates sit near σ(0) = 0.5 (mean f = {f:.2f}). The "
            f"gradient falls 10× every {r.steps_per_decade:.1f} steps, ×{per_step:.2f} per step. "
            f"‖∂L/∂c_t‖ follows ‖∂L/∂h_t‖ within {gap:.1f}× at every step, while ‖∂L/∂h_t‖ "
            f"falls {claims.format_factor(1 / r.facts.change)}×: with f ≈ 0.5 the cell state "
            "gives the gradient no longer path than the hidden state.")


def _forget_bias_1(r) -> str:
    f = r.forward.gate_means["f"]
    return (f"b_f = 1 opens the forget gates further (mean f = {f:.2f}). Along the cell "
            f"state, {claims.profile_headline(r.cell_facts, '‖∂L/∂c_t‖', lead='')} "
            "Compare with the b_f = 0 preset, and try 3 or 5.")


def _chrono(r) -> str:
    h = claims.profile_headline(r.facts)
    return (f"{h} Along the cell state the picture differs: "
            f"{claims.profile_headline(r.cell_facts, '‖∂L/∂c_t‖', lead='')}"
            " The memory is in c_t: some units have forget gates so close to 1 that they "
            "keep what step 0 wrote for the whole sequence.")


def _relu_blowup(r) -> str:
    growth = claims.growth_per_step(r.forward.state_norms, end=r.state_blowup_step)
    return (f"‖h_t‖ grows {growth:.2f}× per step (the forward-pass panel) until it leaves "
            f"float32's range at step {r.state_blowup_step}; from there on every value, the "
            "gradient included, is inf/NaN.")


def _stack(r) -> tuple[np.ndarray, int, int]:
    """A deep.DeepResult's map as (L, D, T) float64, and L, D (from its row labels)."""
    m = np.asarray(r.depth_map, np.float64)
    D = 2 if any(p.label.endswith("←") for p in r.profiles) else 1
    L = m.shape[0] // D
    return m.reshape(L, D, m.shape[1]), L, D


def _change(start: float, end: float) -> str:
    """How a value changes from `start` to `end`: "falls 57×", "grows 3.1×", "falls to
    exactly 0", "changes only ×0.98"."""
    if end == 0:
        return "falls to exactly 0"
    ratio = start / end
    if claims.format_factor(max(ratio, 1 / ratio)) == "1":
        return f"changes only ×{end / start:.2f}"
    if ratio >= 1:
        return f"falls {claims.format_factor(ratio)}×"
    return f"grows {claims.format_factor(1 / ratio)}×"


def _steps(n: int) -> str:
    return "1 step" if n == 1 else f"{n} steps"


def _zero_beyond(v: np.ndarray, m: int, side: str) -> bool:
    """Whether `v` is exactly 0 at every step on `side` ("after"/"before") of step m and at
    no other step: the states a direction reaches after the read step in its own reading
    (→ after m, ← before m), from which no path leads to a loss read at m."""
    zero = np.nonzero(v == 0)[0]
    beyond = np.arange(m + 1, v.size) if side == "after" else np.arange(0, m)
    return bool(zero.size) and np.array_equal(zero, beyond)


def _overflowed(r) -> str | None:
    if r.state_blowup_step is None and np.isfinite(np.asarray(r.depth_map)).all():
        return None
    at = f" at step {r.state_blowup_step}" if r.state_blowup_step is not None else ""
    return (f"The forward pass overflowed float32{at}: the gradient from there on is inf/NaN, "
            "so there is nothing to compare. Lower the gain.")


def _two_directions(r) -> str:
    """Where each direction of a bidirectional stack hears a loss read at one step."""
    bad = _overflowed(r)
    if bad or not r.read_steps:
        return bad or ""
    g, L, D = _stack(r)
    if D != 2:
        return ""
    m, T = int(r.read_steps[0]), g.shape[2]
    fwd, bwd = g[-1, 0], g[-1, 1]
    out = []
    zeros = []
    for arrow, v, side, n in (("→", fwd, "after", T - 1 - m), ("←", bwd, "before", m)):
        if _zero_beyond(v, m, side):
            zeros.append(f"layer {L} {arrow} is exactly 0 at the {_steps(n)} {side} t = {m}")
    if zeros:
        out.append(f"{'; '.join(zeros)}: in that direction's reading they come after the "
                   "read step, so the loss cannot depend on them (no path).")
    reach = []
    if m > 0:
        reach.append(f"layer {L} → {_change(fwd[m], fwd[0])} back to step 0 ({_steps(m)})")
    if m < T - 1:
        reach.append(f"layer {L} ← {_change(bwd[m], bwd[T - 1])} on to step {T - 1} "
                     f"({_steps(T - 1 - m)})")
    if reach:
        out.append(f"Out from t = {m}, {' and '.join(reach)}.")
    if L >= 2:
        below = g[-2]
        heard = []
        if m < T - 1 and below[0, T - 1] > 0:
            heard.append(f"layer {L - 1} → has {below[0, T - 1]:.1e} at step {T - 1}")
        if m > 0 and below[1, 0] > 0:
            heard.append(f"layer {L - 1} ← has {below[1, 0]:.1e} at step 0")
        if heard:
            lead = "One layer down nothing is 0" if (below != 0).all() else "One layer down"
            out.append(f"{lead}: {' and '.join(heard)}, as layer {L} reads both of layer "
                       f"{L - 1}'s directions at every step.")
    out[:1] = [o[0].upper() + o[1:] for o in out[:1]]
    return " ".join(out)


def _deep_stack(r) -> str:
    """A one-way stack: what depth costs at the read step, what time costs, and which
    layer holds the most at step 0."""
    bad = _overflowed(r)
    if bad or not r.read_steps:
        return bad or ""
    g, L, D = _stack(r)
    if D != 1 or L < 2:
        return ""
    g = g[:, 0]  # (L, T)
    s = int(r.read_steps[0])
    top, bottom = g[-1], g[0]
    out = [f"At t = {s}, going down the stack ‖∂L/∂h_t‖ {_change(top[s], bottom[s])} over "
           f"{L - 1} layers ({top[s]:.2g} in layer {L}, {bottom[s]:.2g} in layer 1)"]
    if s == 0:
        return out[0] + "."
    depth = max(top[s], bottom[s]) / max(min(top[s], bottom[s]), np.finfo(float).tiny)
    time = top[s] / top[0] if top[0] > 0 else np.inf
    out.append(f"; back in time it {_change(top[s], top[0])} over {_steps(s)} in layer {L}"
               f"{' (more than down the stack)' if time > depth else ''} and "
               f"{_change(bottom[s], bottom[0]).removeprefix('falls ')} in layer 1.")
    most = int(np.argmax(g[:, 0]))
    if most != L - 1 and top[0] > 0:
        rates = [s / np.log10(v[s] / v[0]) if v[s] > v[0] > 0 else None for v in (bottom, top)]
        said = (f" So at step 0 layer {most + 1} holds the most, "
                f"{claims.format_factor(g[most, 0] / top[0])}× more than layer {L} "
                f"({g[most, 0]:.1e} against {top[0]:.1e})")
        if most == 0 and None not in rates and rates[0] > rates[1]:
            said += (f": its gradient fades more slowly, on average 10× every "
                     f"{rates[0]:.1f} steps against {rates[1]:.1f}")
        out.append(said + ".")
    return "".join(out)


def compare_ranking(results: dict) -> list[str]:
    """Cells ordered by how much gradient reaches step 0, most first (overflow last)."""
    def at_start(r):
        v = r.grad_norms[0]
        return v if np.isfinite(v) else -np.inf
    return sorted(results, key=lambda c: at_start(results[c]), reverse=True)


def _compare(results: dict) -> str:
    order = compare_ranking(results)
    parts = []
    for cell in order:
        v = results[cell].grad_norms[0]
        shown = "below 1e-30" if v < claims.FLOOR else f"{v:.0e}"
        parts.append(f"{CELL_LABELS[cell]} {shown}")
    # Each cell's own headline stands under its metric above the chart: not said again here,
    # so that the narration stays short enough to read beside the chart.
    return ("How much of the gradient reaches step 0: " + ", ".join(parts) + "."
            + _compare_takeaway(results))


def _compare_takeaway(results: dict) -> str:
    """Which cell carries the gradient furthest back, and why, from the curves: the
    steadier per-step rate, compounded over the sequence ("" where the curves do not show
    one cell ahead with a slower steady fall)."""
    order = compare_ranking(results)
    if len(order) < 2 or not all(np.isfinite(r.grad_norms).all() for r in results.values()):
        return ""
    first, second = results[order[0]], results[order[1]]
    v1, v2 = float(first.grad_norms[0]), float(second.grad_norms[0])
    a, b = claims.steady_rate(first.facts), claims.steady_rate(second.facts)
    if v1 < claims.FLOOR or a is None or b is None or a <= b:
        return ""
    name1, name2 = CELL_LABELS[order[0]], CELL_LABELS[order[1]]
    T = first.grad_norms.size
    alone = all(r.grad_norms[0] < claims.FLOOR for c, r in results.items() if c != order[0])
    if v2 < claims.FLOOR:
        runner = f"the {name2}'s is below 1e-30 from step {second.facts.below_floor_from} back"
    else:
        runner = f"the {name2} delivers {claims.format_factor(v1 / v2)}× less"
    text = (f" Take-away: the {name1} carries the gradient furthest back"
            + (f", the only one of the {len(results)} with more than 1e-30 at step 0 "
               if alone else " ")
            + f"({v1:.0e}), while {runner}. Its steady fall is slower, 10× every {a:.1f} "
            f"steps against {b:.1f}: ×{10 ** (-1 / a):.2f} against ×{10 ** (-1 / b):.2f} per "
            f"step, a difference that compounds over the {T - 1} steps back to step 0.")
    gates = {c: results[c].forward.gate_means.get(g) for c, g in (("lstm", "f"), ("gru", "z"))
             if c in results}
    if len(gates) == 2 and None not in gates.values() and abs(gates["lstm"] - gates["gru"]) < 0.05:
        text += (f" The LSTM's forget gates and the GRU's update gates are about equally open "
                 f"(mean f = {gates['lstm']:.2f}, mean z = {gates['gru']:.2f}), so how far those "
                 "gates open on average does not explain the difference.")
    return text


def _lab(histories: dict) -> str:
    if not histories:
        return ""
    return " ".join(claims.training_outcome(CELL_LABELS[c], h.losses, h.baseline, h.diverged)
                    for c, h in histories.items())


def _clipping(histories: dict) -> str:
    if not histories:
        return ""
    (cell, h), = histories.items()
    fired = int(np.asarray(h.clipped).sum())
    return (f"Clipping fired at {fired} of {h.steps.size} steps. "
            + claims.training_outcome(CELL_LABELS[cell], h.losses, h.baseline, h.diverged))


PRESETS = (
    Preset(
        "Vanishing: orthogonal × 0.9", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "0.9", "T": "200", "inputs": "noise"},
        "A tanh RNN whose recurrent matrix W_hh is orthogonal × 0.9: it shrinks every "
        "vector by exactly 0.9.",
        _vanishing,
    ),
    Preset(
        "Exploding: orthogonal × 1.1", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "1.1", "T": "300", "inputs": "zeros"},
        "A tanh RNN with W_hh orthogonal × 1.1 and zero inputs.",
        _exploding,
    ),
    Preset(
        "The edge of chaos: gain 1.0", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "1.0", "T": "300", "inputs": "noise"},
        "A tanh RNN with an orthogonal W_hh at gain 1, driven by noise.",
        _edge_of_chaos,
    ),
    Preset(
        "IRNN: relu with W_hh = I", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "1.0", "T": "300", "inputs": "sine"},
        "Le, Jaitly & Hinton 2015: a relu RNN whose W_hh starts as the identity.",
        _irnn,
    ),
    Preset(
        "Scaled identity 0.01·I forgets", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "0.01", "T": "100", "inputs": "sine"},
        "The same IRNN with W_hh = 0.01·I.",
        _scaled_identity,
    ),
    Preset(
        "LSTM, forget bias 0", FLOW,
        {"cell": "lstm", "init": "orthogonal", "forget_bias": "0.0", "T": "300"},
        "An LSTM whose forget-gate bias b_f is 0.",
        _forget_bias_0,
    ),
    Preset(
        "LSTM, forget bias 1", FLOW,
        {"cell": "lstm", "init": "orthogonal", "forget_bias": "1.0", "T": "300"},
        "Gers et al. 2000 and Jozefowicz et al. 2015: an LSTM with forget-gate bias b_f = 1.",
        _forget_bias_1,
    ),
    Preset(
        "Chrono initialisation for long memory", FLOW,
        {"cell": "lstm", "init": "orthogonal", "chrono": "1000", "T": "1000"},
        "Tallec & Ollivier 2018: b_f ~ log U[1, T_max − 1] with T_max = 1000 spreads the "
        "units' memory spans up to 1000 steps.",
        _chrono,
    ),
    Preset(
        "GRU versus LSTM at T = 500", COMPARE,
        {"init": "orthogonal", "T": "500", "forget_bias": "1.0", "update_bias": "1.0"},
        "All three cells with the same inputs and weights' family, forget and update "
        "biases 1.",
        _compare,
    ),
    Preset(
        "Why gates matter: the adding problem", LAB,
        {"compare": "true", "task": "adding", "T": "50", "hidden_size": "32",
         "chrono_tmax": "50.0", "learning_rate": "0.02", "steps": "700", "seed": "0"},
        "Press Train. All three cells see the same sequences; the target is the sum of the "
        "two marked numbers. Compare each loss with the no-memory baseline 1/6.",
        _lab,
    ),
    Preset(
        "Clipping rescues an exploding IRNN", LAB,
        {"compare": "false", "task": "sine", "T": "30", "cell": "rnn_relu", "hidden_size": "16",
         "scheme": "identity", "optimizer": "sgd", "learning_rate": "0.13", "clip": "1.0",
         "steps": "300"},
        "A relu RNN with W_hh = I, plain SGD, and the gradient norm clipped at θ = 1. Press "
        "Train (open circles mark the steps where clipping fired), then switch clipping off "
        "and train again.",
        _clipping,
    ),
    Preset(
        "Bidirectional: the loss reads the middle step", DEEP,
        {"cell": "lstm", "layers": "2", "bidirectional": "true", "read": "middle", "T": "100"},
        "Two bidirectional LSTM layers; the loss reads the top layer at the middle step only "
        "(dashed). → reads the sequence from the start, ← from the end.",
        _two_directions,
    ),
    Preset(
        "Bidirectional: the loss reads the last step", DEEP,
        {"cell": "lstm", "layers": "3", "bidirectional": "true", "read": "last", "T": "100"},
        "Three bidirectional LSTM layers; the loss reads the top layer at the last step, as "
        "a sequence classifier reading PyTorch's output[T − 1] does.",
        _two_directions,
    ),
    Preset(
        "Deep one-way stack: 4 tanh layers", DEEP,
        {"cell": "rnn", "layers": "4", "bidirectional": "false", "read": "last", "T": "100"},
        "Four tanh RNN layers, one direction, each reading the one below; the loss reads the "
        "top layer at the last step. Compare the map down a column (depth) and along a row "
        "(time).",
        _deep_stack,
    ),
    Preset(
        "relu RNN blowing up", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "1.3", "T": "400", "inputs": "noise"},
        "A relu has no ceiling: a relu RNN with W_hh = 1.3·I.",
        _relu_blowup,
    ),
)


def _settings(page: str) -> tuple:
    """The settings (config.Field) a page writes into its address."""
    from rnnviz.engine import train
    from rnnviz.experiments import deep, one_layer

    return {DEEP: deep.FIELDS, LAB: train.FIELDS}.get(page, one_layer.FIELDS)


def _is_default(field, raw) -> bool:
    """A setting absent from the address, written there empty (a page writes a setting
    that does not apply, e.g. the chrono initialisation's T_max under another scheme, as
    ""), or at its default."""
    return raw in (None, "") or raw == to_query((field,), {field.key: field.default})[field.key]


def matching(page: str, query: dict) -> Preset | None:
    """The preset of this page whose settings the query holds, if any: the ones it names at
    its values, every other setting of the page at its default. (A student who switches on
    one more, e.g. the spectral radius, has left the preset, and its narration, true of the
    preset's settings, would no longer be.)"""
    for preset in PRESETS:
        if preset.page == page and all(query.get(k) == v for k, v in preset.query.items()) \
                and all(_is_default(f, query.get(f.key)) for f in _settings(page)
                        if f.key not in preset.query):
            return preset
    return None
