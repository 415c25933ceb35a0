"""Every preset's narration is true of the view it narrates.

Each test computes the preset's view as its page does, recomputes every quantity the
narration states by an independent route (the public API, NumPy), and checks that the
narration says exactly that.
"""
from dataclasses import replace

import numpy as np
import pytest

import rnnviz
import rnnviz.claims
from rnnviz import gradflow, presets, train
from rnnviz.presets import PRESETS
from tests.test_claims import check_headline

BY_NAME = {p.name: p for p in PRESETS}


def view(name: str):
    preset = BY_NAME[name]
    config, notices = gradflow.FlowConfig.from_query(preset.query)
    assert not notices
    if preset.page == presets.COMPARE:
        return config, {c: gradflow.gradient_flow(replace(config, cell=c))
                        for c in ("rnn", "lstm", "gru")}
    return config, gradflow.gradient_flow(config)


def forward(config):
    """hs and gates of the page's batch, straight from the public API (T steps)."""
    params, xs = gradflow.params_and_inputs(config)
    hs, gates = rnnviz.unroll(config.cell, params, xs[: config.T])
    return np.asarray(hs, np.float64), {k: np.asarray(v, np.float64) for k, v in gates.items()}


def steps_per_decade(norms) -> float:
    t = np.arange(norms.size)
    ok = np.isfinite(norms) & (norms >= 1e-30)
    return 1.0 / abs(np.polyfit(t[ok], np.log10(norms[ok]), 1)[0])


def test_every_preset_is_tested_here():
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_")}
    for preset in PRESETS:
        assert preset.narrate is not None
        assert preset_test_name(preset.name) in tested, preset.name


def preset_test_name(name: str) -> str:
    return {
        "Vanishing: orthogonal × 0.9": "vanishing", "Exploding: orthogonal × 1.1": "exploding",
        "The edge of chaos: gain 1.0": "edge_of_chaos", "IRNN: relu with W_hh = I": "irnn",
        "Scaled identity 0.01·I forgets": "scaled_identity",
        "LSTM, forget bias 0": "forget_bias_0", "LSTM, forget bias 1": "forget_bias_1",
        "Chrono initialisation for long memory": "chrono",
        "GRU versus LSTM at T = 500": "compare_cells",
        "Why gates matter: the adding problem": "adding_problem",
        "Clipping rescues an exploding IRNN": "clipping", "relu RNN blowing up": "relu_blowup",
    }[name]


def test_vanishing():
    config, r = view("Vanishing: orthogonal × 0.9")
    text = BY_NAME["Vanishing: orthogonal × 0.9"].narrate(r)
    lam1 = np.linalg.norm(np.asarray(gradflow.make_params(config).w_hh, np.float64), 2)
    assert lam1 == pytest.approx(0.9, abs=1e-4) and "γλ₁ = 0.90" in text
    assert f"10× every {1 / -np.log10(lam1):.1f} steps" in text  # the bound's rate
    rate = steps_per_decade(r.grad_norms)
    assert rate < 1 / -np.log10(lam1)  # "the curve falls faster"
    assert f"10× every {rate:.1f} steps" in text
    assert (r.grad_norms <= r.bound * (1 + 1e-4)).all()  # Pascanu's bound holds
    hs, _ = forward(config)
    mean_slope = np.mean(1 - hs**2)
    assert mean_slope < 1 and f"mean tanh′ = {mean_slope:.2f}" in text
    assert f"100 steps back, ‖∂L/∂h_t‖ is {r.grad_norms[-101]:.0e}" in text


def test_exploding():
    config, r = view("Exploding: orthogonal × 1.1")
    text = BY_NAME["Exploding: orthogonal × 1.1"].narrate(r)
    hs, _ = forward(config)
    assert np.abs(hs).max() == 0.0  # the state stays at 0, where tanh′ = 1
    assert "λ₁ = 1.10" in text and r.lambda1 == pytest.approx(1.1, abs=1e-4)
    assert "grows 10× every 24.2 steps" in text
    assert steps_per_decade(r.grad_norms) == pytest.approx(1 / np.log10(1.1), abs=0.05)
    gap = np.max(np.abs(r.grad_norms - r.bound) / r.bound)
    assert gap < 1e-3 and f"at most {gap:.1e} relative" in text


def test_edge_of_chaos():
    config, r = view("The edge of chaos: gain 1.0")
    text = BY_NAME["The edge of chaos: gain 1.0"].narrate(r)
    assert "λ₁ = 1.00" in text
    check_headline(text[text.index("the gradient"):text.index(". ") + 1], r.grad_norms)
    assert r.grad_norms[0] < 1e-10  # it does vanish
    hs, _ = forward(config)
    assert f"mean tanh′ is {np.mean(1 - hs**2):.2f}" in text


def test_irnn():
    config, r = view("IRNN: relu with W_hh = I")
    text = BY_NAME["IRNN: relu with W_hh = I"].narrate(r)
    fall = r.grad_norms[-1] / r.grad_norms[0]
    assert f"falls only {fall:.0f}×" in text and fall < 20
    hs, _ = forward(config)
    assert f"{np.mean(hs > 0):.0%} of the units are active" in text


def test_scaled_identity():
    config, r = view("Scaled identity 0.01·I forgets")
    text = BY_NAME["Scaled identity 0.01·I forgets"].narrate(r)
    g = r.grad_norms
    ok = (g[:-1] >= 1e-30) & (g[1:] >= 1e-30)
    assert (g[:-1][ok] <= 0.01 * g[1:][ok] * (1 + 1e-3)).all()  # ≤ 0.01 per step back
    assert f"10× every {steps_per_decade(g):.2f} steps" in text
    below = np.nonzero(g < 1e-30)[0].max()
    assert f"below 1e-30 from step {below} back" in text


def test_forget_bias_0():
    config, r = view("LSTM, forget bias 0")
    text = BY_NAME["LSTM, forget bias 0"].narrate(r)
    _, gates = forward(config)
    assert f"mean f = {gates['f'].mean():.2f}" in text and abs(gates["f"].mean() - 0.5) < 0.05
    rate = steps_per_decade(r.grad_norms)
    assert f"10× every {rate:.1f} steps, ×{10 ** (-1 / rate):.2f} per step" in text
    ok = (r.grad_norms >= 1e-30) & (r.cell_grad_norms >= 1e-30)
    ratio = r.grad_norms[ok] / r.cell_grad_norms[ok]
    gap = np.max(np.maximum(ratio, 1 / ratio))
    assert f"within {gap:.1f}× at every step" in text
    assert "halves" not in text


def test_forget_bias_1():
    config, r = view("LSTM, forget bias 1")
    text = BY_NAME["LSTM, forget bias 1"].narrate(r)
    _, gates = forward(config)
    assert f"mean f = {gates['f'].mean():.2f}" in text
    clause = text[text.index("‖∂L/∂c_t‖"):text.index(". Compare") + 1]
    check_headline(clause, r.cell_grad_norms)


def test_chrono():
    config, r = view("Chrono initialisation for long memory")
    text = BY_NAME["Chrono initialisation for long memory"].narrate(r)
    h_sentence = text[:text.index(" Along the cell state")]
    check_headline(h_sentence, r.grad_norms)
    assert "within" not in h_sentence.split("then")[0]  # the h curve is not flat
    c_sentence = text[text.index("differs: ") + len("differs: "):text.index(" The memory")]
    check_headline(c_sentence, r.cell_grad_norms)
    assert np.ptp(np.log10(r.cell_grad_norms)) < 1  # the cell path keeps it within 10×
    # "some units keep what step 0 wrote": the forget-gate product stays above 0.1
    _, gates = forward(config)
    product = np.prod(gates["f"][1:], axis=0)  # (B, H)
    assert (product > 0.1).any()


def test_compare_cells():
    config, results = view("GRU versus LSTM at T = 500")
    text = BY_NAME["GRU versus LSTM at T = 500"].narrate(results)
    at_zero = {c: r.grad_norms[0] for c, r in results.items()}
    order = sorted(at_zero, key=lambda c: at_zero[c], reverse=True)
    labels = [rnnviz.cells.CELL_LABELS[c] for c in order]
    positions = [text.index(label + " ") for label in labels]
    assert positions == sorted(positions)  # named in order of what reaches step 0
    for cell, r in results.items():
        label = rnnviz.cells.CELL_LABELS[cell]
        shown = "below 1e-30" if at_zero[cell] < 1e-30 else f"{at_zero[cell]:.0e}"
        assert f"{label} {shown}" in text
        sentence = gradflow.summary_sentence(r, config.T)
        assert f"{label}: {sentence}" in text
        check_headline(sentence, r.grad_norms)
    assert "additive path" not in text


def lab_config(name: str) -> tuple[train.TrainConfig, bool]:
    preset = BY_NAME[name]
    config, notices = train.config_from_query(preset.query)
    assert not notices
    return config, preset.query["compare"] == "true"


def final_loss(losses) -> float:
    return float(np.mean(np.asarray(losses, np.float64)[-20:]))


def test_adding_problem():
    config, compare = lab_config("Why gates matter: the adding problem")
    assert compare
    histories = train.compare_cells(config)
    text = BY_NAME["Why gates matter: the adding problem"].narrate(histories)
    assert histories["rnn"].baseline == pytest.approx(1 / 6)  # "the no-memory baseline 1/6"
    for cell, h in histories.items():
        end = final_loss(h.losses)
        assert f"ends at loss {end:.3g}" in text
        if h.baseline / end >= 1.25:
            assert f"{h.baseline / end:.2g}× below" in text or f"{h.baseline / end:.0f}× below" in text
            step = int(np.argmax(h.losses < h.baseline / 2)) + 1
            assert f"half the baseline at step {step}" in text
    # what the preset is for: the tanh RNN stays at the baseline, the LSTM leaves it
    assert final_loss(histories["rnn"].losses) > 0.8 * histories["rnn"].baseline
    assert final_loss(histories["lstm"].losses) < 0.1 * histories["lstm"].baseline


def test_clipping():
    config, compare = lab_config("Clipping rescues an exploding IRNN")
    assert not compare and config.clip == 1.0
    h = train.run(config)
    text = BY_NAME["Clipping rescues an exploding IRNN"].narrate({config.cell: h})
    assert f"Clipping fired at {int(h.clipped.sum())} of {config.steps} steps" in text
    assert f"ends at loss {final_loss(h.losses):.3g}" in text and "below" in text
    # what the student sees after switching clipping off, as the intro asks
    off = train.run(replace(config, clip=None))
    said = rnnviz.claims.training_outcome("RNN", off.losses, off.baseline, off.diverged)
    assert final_loss(off.losses) > 100 * off.baseline and "above the no-memory baseline" in said
    assert f"peaked at {off.losses.max():.1e} at step {int(np.argmax(off.losses)) + 1}" in said


def test_relu_blowup():
    config, r = view("relu RNN blowing up")
    text = BY_NAME["relu RNN blowing up"].narrate(r)
    hs, _ = forward(config)
    norms = np.sqrt(np.mean(np.sum(hs**2, axis=2), axis=1))
    s = int(np.argmax(~np.isfinite(norms)))
    assert f"at step {s}" in text
    assert f"grows {(norms[s - 1] / norms[0]) ** (1 / (s - 1)):.2f}× per step" in text
    assert np.isnan(r.grad_norms).all()  # "the gradient included, is inf/NaN"
