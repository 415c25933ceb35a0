"""Named classroom scenarios: a page, its settings, and what to say about them.

A preset's `intro` says what its settings are and what to do; it states no result. What
the result shows is said by its `narrate` function, computed from the page's own numbers
(`tests/test_presets.py` checks every claim of every preset against them).
"""
from typing import Callable, NamedTuple

import numpy as np

from rnnviz import claims
from rnnviz.cells import CELL_LABELS


class Preset(NamedTuple):
    """One scenario; `query` holds URL parameters, unspecified ones take their defaults."""

    name: str
    page: str
    query: dict
    intro: str
    # The page's result -> sentences about it: a gradflow.FlowResult on Gradient flow, a
    # dict cell -> FlowResult on Compare cells, a dict cell -> train.History in the
    # Training lab (None before a run, when only the intro is shown).
    narrate: Callable | None = None


FLOW = "pages/1_Gradient_flow.py"
COMPARE = "pages/2_Compare_cells.py"
LAB = "pages/6_Training_lab.py"


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


def _scaled_identity(r) -> str:
    return (f"W_hh = 0.01·I: each step back multiplies the gradient by at most 0.01, so it "
            f"falls 10× every {r.steps_per_decade:.2f} steps and is below 1e-30 from step "
            f"{r.facts.below_floor_from} back. Compare with the IRNN preset.")


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
    return ("How much of the gradient reaches step 0: " + ", ".join(parts) + ". "
            + " ".join(f"{CELL_LABELS[c]}: {claims.profile_headline(results[c].facts)}"
                       for c in order))


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
        "relu RNN blowing up", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "1.3", "T": "400", "inputs": "noise"},
        "A relu has no ceiling: a relu RNN with W_hh = 1.3·I.",
        _relu_blowup,
    ),
)


def matching(page: str, query: dict) -> Preset | None:
    """The preset of this page whose settings the query holds, if any."""
    for preset in PRESETS:
        if preset.page == page and all(query.get(k) == v for k, v in preset.query.items()):
            return preset
    return None
