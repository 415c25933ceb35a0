"""Every preset's narration is true of the view it narrates.

Each test computes the preset's view as its page does, recomputes every quantity the
narration states by an independent route (the public API, NumPy), and checks that the
narration says exactly that.
"""
from dataclasses import replace

import numpy as np
import pytest

import rnnviz
import rnnviz.experiments.claims
from rnnviz.engine import train
from rnnviz.experiments import one_layer, presets
from rnnviz.experiments.presets import PRESETS
from tests.test_claims import check_headline

BY_NAME = {p.name: p for p in PRESETS}


def view(name: str):
    preset = BY_NAME[name]
    config, notices = one_layer.FlowConfig.from_query(preset.query)
    assert not notices
    if preset.page == presets.COMPARE:
        return config, {c: one_layer.gradient_flow(replace(config, cell=c))
                        for c in ("rnn", "lstm", "gru")}
    return config, one_layer.gradient_flow(config)


def forward(config):
    """hs and gates of the page's batch, straight from the public API (T steps)."""
    params, xs = one_layer.params_and_inputs(config)
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
        "Bidirectional: the loss reads the middle step": "bidirectional_middle",
        "Bidirectional: the loss reads the last step": "bidirectional_last",
        "Deep one-way stack: 4 tanh layers": "deep_stack",
    }[name]


def test_vanishing():
    config, r = view("Vanishing: orthogonal × 0.9")
    text = BY_NAME["Vanishing: orthogonal × 0.9"].narrate(r)
    lam1 = np.linalg.norm(np.asarray(one_layer.make_params(config).w_hh, np.float64), 2)
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
    # The fall to 0 is not the ×0.01: backpropagate by hand through the page's forward
    # pass, ∂L/∂h_{t−1} = W_hhᵀ(relu′(a_t) ⊙ ∂L/∂h_t), relu′(a_t) = [h_t > 0], from the
    # readout v = 1/√H at the last step.
    hs, _ = forward(config)
    w_hh = np.asarray(one_layer.make_params(config).w_hh, np.float64)
    lam1 = np.linalg.norm(w_hh, 2)
    grads = np.zeros_like(hs)
    grads[-1] = 1 / np.sqrt(config.H)
    for t in range(config.T - 1, 0, -1):
        grads[t - 1] = ((hs[t] > 0) * grads[t]) @ w_hh
    norms = np.sqrt(np.mean(np.sum(grads**2, axis=2), axis=1))
    zero = norms == 0
    assert np.array_equal(zero, g == 0)  # the page's exact zeros are these
    n = int(np.argmin(zero)) - 1
    assert zero[: n + 1].all() and not zero[n + 1:].any() and n > 0
    carrying = grads[n + 1] != 0
    assert carrying.sum() > 0 and not (carrying & (hs[n + 1] > 0)).any()
    assert (f"From step {n} back it is not small but exactly 0: at step {n + 1} the gradient "
            f"was left in {carrying.sum()} units") in text
    assert "every one of them was inactive there (relu′ = 0)" in text
    alone = lam1 * norms[n + 1]
    assert alone > 1e-30  # the ×0.01 alone would not have reached the floor
    assert f"×{lam1:.2g} per step alone would give about {alone:.0e} at step {n}" in text
    assert "below 1e-30" not in text


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
    labels = [rnnviz.engine.cells.CELL_LABELS[c] for c in order]
    positions = [text.index(label + " ") for label in labels]
    assert positions == sorted(positions)  # named in order of what reaches step 0
    for cell, r in results.items():
        label = rnnviz.engine.cells.CELL_LABELS[cell]
        shown = "below 1e-30" if at_zero[cell] < 1e-30 else f"{at_zero[cell]:.0e}"
        assert f"{label} {shown}" in text
        check_headline(one_layer.summary_sentence(r, config.T), r.grad_norms)  # under its metric
    assert "additive path" not in text


def test_compare_cells_takeaway():
    import re

    config, results = view("GRU versus LSTM at T = 500")
    text = BY_NAME["GRU versus LSTM at T = 500"].narrate(results)
    takeaway = text[text.index("Take-away: "):]
    at_zero = {c: r.grad_norms[0] for c, r in results.items()}
    first = max(at_zero, key=at_zero.get)
    second = sorted(at_zero, key=at_zero.get)[-2]
    assert (first, second) == ("lstm", "gru")  # what the preset is for
    label = rnnviz.engine.cells.CELL_LABELS
    assert f"the {label[first]} carries the gradient furthest back" in takeaway
    assert all(v < 1e-30 for c, v in at_zero.items() if c != first) and at_zero[first] >= 1e-30
    assert f"the only one of the 3 with more than 1e-30 at step 0 ({at_zero[first]:.0e})" in takeaway
    g = results[second].grad_norms
    below = np.nonzero(g < 1e-30)[0].max()
    assert f"the {label[second]}'s is below 1e-30 from step {below} back" in takeaway
    # The steady rates: the GRU's whole curve; the LSTM's before its last few steps (the
    # headline says how many), each from a straight-line fit of log10 ‖∂L/∂h_t‖.
    lstm_headline = one_layer.summary_sentence(results[first], config.T)
    k = int(re.search(r"in the last (\d+) steps, then", lstm_headline).group(1))
    lstm = results[first].grad_norms
    rate_first = steps_per_decade(lstm[: lstm.size - k])
    rate_second = steps_per_decade(g)
    m = re.search(r"10× every ([0-9.]+) steps against ([0-9.]+): ×([0-9.]+) against "
                  r"×([0-9.]+) per step", takeaway)
    assert m, takeaway
    assert float(m.group(1)) == pytest.approx(rate_first, abs=0.15)
    assert float(m.group(2)) == pytest.approx(rate_second, abs=0.15)
    assert rate_first > rate_second  # "its steady fall is slower"
    assert float(m.group(3)) == pytest.approx(10 ** (-1 / rate_first), abs=0.006)
    assert float(m.group(4)) == pytest.approx(10 ** (-1 / rate_second), abs=0.006)
    assert f"over the {config.T - 1} steps back to step 0" in takeaway
    means = {}
    for cell, gate in (("lstm", "f"), ("gru", "z")):
        _, gates = forward(replace(config, cell=cell))
        means[gate] = gates[gate].mean()
    assert abs(means["f"] - means["z"]) < 0.05  # "about equally open"
    assert f"(mean f = {means['f']:.2f}, mean z = {means['z']:.2f})" in takeaway


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
    said = rnnviz.experiments.claims.training_outcome("RNN", off.losses, off.baseline, off.diverged)
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


# --- the Deep & bidirectional page ------------------------------------------------------


def deep_view(name: str):
    """The preset's DeepResult as the page computes it, and every layer's ‖∂L/∂h_t‖
    recomputed another way: the public API's hidden_grads of the page's loss, in float64
    norms, (L, D, T)."""
    import functools

    from rnnviz.experiments import deep as deep_exp

    preset = BY_NAME[name]
    assert preset.page == presets.DEEP
    config, notices = deep_exp.DeepConfig.from_query(preset.query)
    assert not notices
    r = deep_exp.deep_flow(config)
    params, xs = deep_exp.make_params(config), deep_exp.inputs(config)[: config.T]
    loss = functools.partial(deep_exp.masked_readout_loss,
                             mask=deep_exp.read_mask(config.read, config.T, config.T))
    g = np.asarray(rnnviz.hidden_grads(config.cell, params, xs, loss)["h"], np.float64)
    norms = np.sqrt(np.mean(np.sum(g**2, axis=-1), axis=-1))  # (L, D, T)
    np.testing.assert_allclose(r.depth_map, norms.reshape(-1, config.T), rtol=1e-4)
    assert norms.shape[:2] == (config.layers, config.directions)
    return config, r, norms, params


def factor(a: float, b: float) -> str:
    return rnnviz.experiments.claims.format_factor(a / b)


def check_two_directions(name: str, read_step: int):
    config, r, g, params = deep_view(name)
    text = BY_NAME[name].narrate(r)
    T, L, m = config.T, config.layers, read_step
    assert r.read_steps == [m]
    fwd, bwd = g[-1]

    def change(a, b):
        return f"{'falls' if a > b else 'grows'} {factor(max(a, b), min(a, b))}×"

    # the top layer: each direction is exactly 0 on the far side of the read step, and
    # nowhere else (no path from a state its own reading reaches after t = m)
    if m < T - 1:
        assert (fwd[m + 1:] == 0).all() and (fwd[: m + 1] > 0).all()
        assert f"ayer {L} → is exactly 0 at the {T - 1 - m} steps after t = {m}" in text
        assert (f"layer {L} ← {change(bwd[m], bwd[-1])} on to step {T - 1} "
                f"({T - 1 - m} steps)") in text
    else:
        assert (fwd > 0).all() and "→ is exactly 0" not in text
    assert (bwd[:m] == 0).all() and (bwd[m:] > 0).all()
    assert f"ayer {L} ← is exactly 0 at the {m} steps before t = {m}" in text
    assert f"layer {L} → {change(fwd[m], fwd[0])} back to step 0 ({m} steps)" in text
    # one layer down: gradient on both sides, through the layer above's other direction
    below = g[-2]
    assert (below > 0).all() and "One layer down nothing is 0" in text
    if m < T - 1:
        assert f"layer {L - 1} → has {below[0, T - 1]:.1e} at step {T - 1}" in text
    assert f"layer {L - 1} ← has {below[1, 0]:.1e} at step 0" in text
    # "layer L reads both of layer L − 1's directions": its weights take 2·H inputs
    for direction in params.layers[L - 1]:
        assert direction.w_ih.shape[1] == 2 * config.H
    return text


def test_bidirectional_middle():
    text = check_two_directions("Bidirectional: the loss reads the middle step", 49)
    assert "t = 49" in text and (100 - 1) // 2 == 49  # deep's "middle" of T = 100


def test_bidirectional_last():
    check_two_directions("Bidirectional: the loss reads the last step", 99)


def test_deep_stack():
    name = "Deep one-way stack: 4 tanh layers"
    config, r, g, _ = deep_view(name)
    text = BY_NAME[name].narrate(r)
    g = g[:, 0]  # (L, T): one direction
    L, s = config.layers, config.T - 1
    top, bottom = g[-1], g[0]
    assert r.read_steps == [s]
    assert top[s] > bottom[s]
    assert (f"At t = {s}, going down the stack ‖∂L/∂h_t‖ falls {factor(top[s], bottom[s])}× "
            f"over {L - 1} layers ({top[s]:.2g} in layer {L}, {bottom[s]:.2g} in layer 1)") in text
    assert top[s] / top[0] > top[s] / bottom[s]  # "more than down the stack"
    assert (f"back in time it falls {factor(top[s], top[0])}× over {s} steps in layer {L} "
            f"(more than down the stack) and {factor(bottom[s], bottom[0])}× in layer 1") in text
    # at step 0 the bottom layer holds the most, and by how much
    assert int(np.argmax(g[:, 0])) == 0
    assert (f"at step 0 layer 1 holds the most, {factor(bottom[0], top[0])}× more than layer "
            f"{L} ({bottom[0]:.1e} against {top[0]:.1e})") in text
    # "fades more slowly": the average rates, and a line fit over every step says the same
    rates = [s / np.log10(v[s] / v[0]) for v in (bottom, top)]
    assert f"10× every {rates[0]:.1f} steps against {rates[1]:.1f}" in text
    slopes = [np.polyfit(np.arange(s + 1), np.log10(v[: s + 1]), 1)[0] for v in (bottom, top)]
    assert 0 < slopes[0] < slopes[1]


def test_deep_presets_round_trip_their_urls():
    """A deep preset's link parses without notices, the page writes back the same values,
    and the address it writes (every setting) still names the preset, so the narration
    stays while the student reads it; one setting changed and it goes."""
    from rnnviz.experiments import deep as deep_exp

    deep = [p for p in PRESETS if p.page == presets.DEEP]
    assert any(p.query.get("read") == "middle" and p.query.get("bidirectional") == "true"
               for p in deep)
    for preset in deep:
        config, notices = deep_exp.DeepConfig.from_query(preset.query)
        assert not notices, preset.name
        written = config.to_query()
        assert {k: written[k] for k in preset.query} == preset.query
        assert deep_exp.DeepConfig.from_query(written) == (config, [])
        assert presets.matching(presets.DEEP, written) is preset
        assert presets.matching(presets.FLOW, written) is None
        other = {**written, "layers": str(config.layers % deep_exp.MAX_LAYERS + 1)}
        assert presets.matching(presets.DEEP, other) is None


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_a_preset_is_left_when_any_other_setting_changes(preset):
    """Its narration holds for its settings only: the address the page writes (every
    setting) names the preset; the same address with one more setting off its default (the
    spectral radius switched on, a bias, the seed, …) names none."""
    from rnnviz.engine.config import to_query

    fields = presets._settings(preset.page)
    defaults = {f.key: f.default for f in fields}
    written = {**to_query(fields, defaults), **preset.query}
    assert presets.matching(preset.page, written) is preset
    for field in fields:
        if field.key in preset.query:
            continue
        changed = {**written, **to_query((field,), {field.key: _not_default(field)})}
        assert changed != written and presets.matching(preset.page, changed) is None, field.key


def _not_default(field):
    """A valid value of a setting other than its default."""
    if field.kind is bool:
        return not field.default
    if field.choices:
        return next(c for c in field.choices if c != field.default)
    return field.hi if field.hi != field.default else field.lo
