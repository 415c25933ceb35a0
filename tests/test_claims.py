"""Headlines are true of the curves they describe.

`check_headline` reads a sentence the way a student would, pulls out every quantity it
states, and checks each one against the array with its own arithmetic (not the code that
wrote the sentence). Property-based tests run it over random curves and random settings.
"""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnviz.engine.cells import CELLS
from rnnviz.engine.init import SCHEMES
from rnnviz.engine.tasks import INPUT_KINDS
from rnnviz.experiments import claims, one_layer

FLOOR = 1e-30
NUM = r"([0-9.]+(?:e[+-]?[0-9]+)?)"


def resolved(norms):
    v = np.asarray(norms, np.float64)
    ok = np.isfinite(v) & (v >= FLOOR)
    return np.arange(v.size)[ok], np.log10(v[ok])


def close(stated: float, actual: float, rel: float = 0.06) -> bool:
    """A number printed with 2 significant digits (or more) matches the actual value."""
    return abs(stated - actual) <= rel * abs(actual) + 1e-12


def parse_steps(text: str) -> list[int]:
    """'step 5', 'steps 0–98', 'steps 0–3, 5 and 7–9' -> the steps, as a reader counts them."""
    out = []
    for part in re.split(r", | and ", text.split(" ", 1)[1]):
        a, _, b = part.partition("–")
        out += range(int(a), int(b or a) + 1)
    return out


def no_path_zeros(norms) -> np.ndarray:
    """Exact zeros whose run of zeros touches no nonzero value below FLOOR: no path to the
    loss. A run next to a tiny value is a gradient float32 flushed to 0 (below 1e-30)."""
    v = np.asarray(norms, np.float64)
    out = np.zeros(v.size, bool)
    i = 0
    while i < v.size:
        if v[i] != 0:
            i += 1
            continue
        j = i
        while j < v.size and v[j] == 0:
            j += 1
        beside = [v[k] for k in (i - 1, j) if 0 <= k < v.size]
        out[i:j] = not any(np.isfinite(x) and 0 < abs(x) < FLOOR for x in beside)
        i = j
    return out


NO_PATH = r"at (steps? [0-9–, and]+?) it is exactly 0: no path from there to the loss"


def check_headline(sentence: str, norms) -> None:
    """Assert every quantity the sentence states about `norms` (time forward, loss at T−1)."""
    v = np.asarray(norms, np.float64)
    T = v.size
    ts, logs = resolved(v)
    if "left float32's range" in sentence:
        step = int(re.search(r"at step (\d+)", sentence).group(1))
        assert not np.isfinite(v[step]) and np.isfinite(v[step + 1:]).all()
        return
    zero = no_path_zeros(v)  # said as "no path", never as "below 1e-30"
    if m := re.search(NO_PATH, sentence):
        assert parse_steps(m.group(1)) == list(np.flatnonzero(zero)), sentence
    else:
        assert not zero.any(), sentence
    if "too few values" in sentence:
        assert ts.size < 2 or not np.isfinite(v[-1]) or v[-1] < FLOOR
        return
    assert ts.size >= 2
    below = np.isfinite(v) & (v < FLOOR) & ~zero
    if m := re.search(r"from step (\d+) back it is below 1e-30", sentence):
        s = int(m.group(1))
        assert below[s] and not below[s + 1:].any()
    else:
        assert not below.any(), sentence
    span = 10 ** (logs.max() - logs.min())
    if m := re.search(r"stays within a factor of " + NUM + r" over (?:all|these) (\d+) steps",
                      sentence):
        assert int(m.group(2)) == T
        assert span <= float(m.group(1)) * (1 + 1e-9)
        assert span < 10.0
        return
    assert span >= 10.0, "a curve that spans less than 10× must be called flat"
    if m := re.search(r"spans " + NUM + r"× over \d+ steps, not monotonically: largest at "
                      r"step (\d+), smallest at step (\d+)", sentence):
        assert close(float(m.group(1)), span)
        assert ts[np.argmax(logs)] == int(m.group(2)) and ts[np.argmin(logs)] == int(m.group(3))
        return
    total = 10 ** (logs[0] - logs[-1])  # > 1: grew going back
    m = re.search(r"\(" + NUM + r"× over (\d+) steps\)", sentence) or re.search(
        r"(?:falls|grows) " + NUM + r"× over (\d+) steps", sentence)
    assert m, sentence
    assert close(float(m.group(1)), max(total, 1 / total))
    assert int(m.group(2)) == T - 1 - ts[0]
    first_verb = re.search(r"(falls|grows)", sentence).group(1)
    if m := re.search(r"(falls|grows) " + NUM + r"× in the last (\d*) ?steps?, then", sentence):
        k = int(m.group(3) or 1)
        late = 10 ** (logs[-1] - logs[ts == T - 1 - k][0])
        assert close(float(m.group(2)), max(late, 1 / late))
        assert (m.group(1) == "falls") == (late > 1)
        early = ts <= T - 1 - k
        if r := re.search(r"then (falls|grows) 10× every " + NUM + " steps", sentence):
            assert_geometric(ts[early], logs[early], float(r.group(2)), r.group(1))
        else:
            r = re.search(r"then stays within a factor of " + NUM, sentence)
            assert 10 ** np.ptp(logs[early]) <= float(r.group(1)) * (1 + 1e-9)
        return
    assert (first_verb == "falls") == (total < 1)
    if m := re.search(r"(falls|grows) 10× every " + NUM + " steps", sentence):
        assert_geometric(ts, logs, float(m.group(2)), m.group(1))
        return
    if m := re.search(NUM + r"× of that in the last (\d*) ?steps?", sentence):
        k = int(m.group(2) or 1)
        part = 10 ** abs(logs[-1] - logs[ts == T - 1 - k][0])
        assert close(float(m.group(1)), part)
        # "most" of the change: every earlier step is past 80% of it (in decades)
        earlier = logs[ts <= T - 1 - k]
        assert np.all(np.abs(earlier - logs[-1]) >= 0.8 * abs(logs[0] - logs[-1]) - 1e-9)
        return
    if m := re.search(NUM + r"× of that in the first (\d*) ?steps? of the sequence", sentence):
        k = int(m.group(2) or 1)
        j = ts[0] + k
        part = 10 ** abs(logs[0] - logs[ts == j][0])
        assert close(float(m.group(1)), part)
        later = logs[ts >= j]
        assert np.all(np.abs(later - logs[0]) >= 0.8 * abs(logs[0] - logs[-1]) - 1e-9)
        return
    assert "at an uneven rate" in sentence, sentence
    assert claims.geometric_rate(ts, logs) is None


def assert_geometric(ts, logs, steps_per_decade, verb):
    """The curve lies close to a line of the stated slope, in the stated direction."""
    slope, intercept = np.polyfit(ts, logs, 1)
    assert close(steps_per_decade, 1 / abs(slope), rel=0.01) or abs(
        steps_per_decade - 1 / abs(slope)) <= 0.05
    assert (verb == "falls") == (slope > 0)  # rising forward in time = falling going back
    decades = np.ptp(logs)
    assert decades >= 1.0
    assert np.max(np.abs(logs - (slope * ts + intercept))) <= min(0.1 * decades, 1.0) + 1e-9


# --- random curves ----------------------------------------------------------------------

@st.composite
def curves(draw):
    """log10 profiles: piecewise-linear segments plus noise, ending at 1 (as on the page),
    optionally with a stretch below the floor and an overflow at the start."""
    T = draw(st.integers(2, 400))
    n_seg = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, T), min_size=n_seg - 1, max_size=n_seg - 1)))
    slopes = draw(st.lists(st.floats(-0.4, 0.4), min_size=n_seg, max_size=n_seg))
    noise = draw(st.floats(0.0, 0.6))
    seed = draw(st.integers(0, 2**16))
    per_step = np.zeros(T)
    for s, a, b in zip(slopes, [0] + cuts, cuts + [T]):
        per_step[a:b] = s
    rng = np.random.default_rng(seed)
    logs = np.cumsum(per_step[::-1])[::-1] + noise * rng.standard_normal(T)
    logs -= logs[-1]  # 1 at the step the loss reads
    v = 10.0 ** np.clip(logs, -60, 60)
    if draw(st.booleans()) and T > 3:
        v[: draw(st.integers(1, T - 2))] = draw(st.sampled_from([1e-35, 0.0, 1e-31]))
    if draw(st.integers(0, 9)) == 0 and T > 3:
        v[: draw(st.integers(1, T - 2))] = np.nan
    return v


@settings(max_examples=400, deadline=None)
@given(curves())
def test_headline_is_true_of_any_curve(norms):
    facts = claims.profile_facts(norms)
    check_headline(claims.profile_headline(facts), norms)


@pytest.mark.parametrize("norms, expected", [
    (0.9 ** np.arange(300)[::-1], "falls 10× every 21.9 steps"),
    (np.ones(50), "stays within a factor of 1"),
    (np.r_[np.full(900, 2e-4), np.geomspace(2e-4, 1, 100)], "in the last"),
])
def test_headline_examples(norms, expected):
    sentence = claims.profile_headline(claims.profile_facts(norms))
    assert expected in sentence
    check_headline(sentence, norms)


def test_a_fall_near_the_end_is_not_called_flat():
    """The chrono failure of the first version: 1 → 2e-4, nearly all in the last 50 steps;
    a straight-line fit is nearly flat, the sentence must not be."""
    norms = np.r_[np.geomspace(1.3e-4, 2e-4, 950), np.geomspace(2e-4, 1, 50)]
    sentence = claims.profile_headline(claims.profile_facts(norms))
    assert "within" not in sentence.split("then")[0]
    assert "in the last" in sentence
    check_headline(sentence, norms)


def test_checker_catches_false_claims():
    """The checker is not vacuous: doctored sentences fail."""
    norms = 0.9 ** np.arange(300)[::-1]
    true = claims.profile_headline(claims.profile_facts(norms))
    for false in (true.replace("21.9", "10.0"), true.replace("falls", "grows"),
                  "Going back in time, the gradient stays within a factor of 10 over all 300 steps."):
        with pytest.raises(AssertionError):
            check_headline(false, norms)


def test_rate_metric_agrees_with_headline():
    geometric = claims.profile_facts(0.8 ** np.arange(100)[::-1])
    assert claims.rate_metric(geometric)[1] == f"{geometric.steps_per_decade:.1f}"
    uneven = claims.profile_facts(np.r_[np.full(900, 2e-4), np.geomspace(2e-4, 1, 100)])
    assert "steps" not in claims.rate_metric(uneven)[1]


def test_training_outcome_sentences():
    at_baseline = np.full(300, 0.166)
    text = claims.training_outcome("RNN", at_baseline, 1 / 6)
    assert "within 1.1× of the no-memory baseline" in text and "0.166" in text
    learned = np.r_[np.full(100, 0.16), np.full(200, 0.002)]
    text = claims.training_outcome("LSTM", learned, 1 / 6)
    assert "83× below" in text and "at step 101" in text
    assert "diverged" in claims.training_outcome("RNN", np.r_[1.0, np.inf], 1 / 6)


# --- zero is not small ---------------------------------------------------------------

STRUCTURAL = np.r_[np.zeros(5), np.geomspace(1e-3, 1, 20)]  # no path before step 5
FLUSHED = np.r_[np.zeros(5), np.geomspace(1e-37, 1e-31, 5), np.geomspace(1e-3, 1, 20)]


def test_exact_zeros_with_no_path_are_not_called_small():
    facts = claims.profile_facts(STRUCTURAL)
    assert facts.no_path_steps == (0, 1, 2, 3, 4) and facts.below_floor_from is None
    sentence = claims.profile_headline(facts)
    assert "at steps 0–4 it is exactly 0: no path from there to the loss" in sentence
    assert "1e-30" not in sentence
    check_headline(sentence, STRUCTURAL)


def test_zeros_float32_flushed_after_fading_stay_below_the_floor():
    facts = claims.profile_facts(FLUSHED)
    assert facts.no_path_steps == () and facts.below_floor_from == 9
    sentence = claims.profile_headline(facts)
    assert "from step 9 back it is below 1e-30" in sentence and "no path" not in sentence
    check_headline(sentence, FLUSHED)


def test_checker_catches_a_zero_called_small_and_a_small_value_called_zero():
    old = "Going back in time, the gradient grows 1000× over 19 steps; from step 4 back it is below 1e-30."
    with pytest.raises(AssertionError):
        check_headline(old, STRUCTURAL)
    with pytest.raises(AssertionError):
        check_headline(claims.profile_headline(claims.profile_facts(STRUCTURAL)), FLUSHED)


@pytest.mark.parametrize("steps, text", [
    ([5], "step 5"), ([0, 1, 2], "steps 0–2"), ([0, 1, 2, 5, 7, 8], "steps 0–2, 5 and 7–8"),
    ([], "")])
def test_step_ranges_read_back(steps, text):
    assert claims.step_ranges(steps) == text
    if steps:
        assert parse_steps(text) == steps


@pytest.mark.parametrize("norms", [
    np.r_[np.geomspace(0.2, 1, 58), np.geomspace(1, 0.21, 218)],  # loss on every step
    np.r_[np.full(3, 1e-35), np.geomspace(1e-3, 1, 40), np.geomspace(1, 0.5, 9)],
])
def test_whole_curve_sentence_states_the_whole_curve(norms):
    sentence = claims.whole_curve_sentence(norms)
    m = re.fullmatch(r"Over all (\d+) steps(, where it is at least 1e-30,)? it spans " + NUM
                     + r"× \(largest at step (\d+), smallest at step (\d+)\)\.", sentence)
    assert m, sentence
    ok = norms >= FLOOR
    assert int(m.group(1)) == norms.size and bool(m.group(2)) == (not ok.all())
    assert close(float(m.group(3)), norms[ok].max() / norms[ok].min())
    assert int(m.group(4)) == np.argmax(norms) and norms[int(m.group(5))] == norms[ok].min()


def test_a_sentence_about_part_of_a_curve_does_not_say_all():
    part = np.geomspace(0.5, 1, 58)
    sentence = claims.profile_headline(claims.profile_facts(part), lead="From step 57 back to "
                                       "step 0 (58 of the 276 steps), ", part=True)
    assert "over these 58 steps" in sentence and "all 58" not in sentence
    check_headline(sentence, part)


# --- random settings through the real experiment --------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(CELLS), T=st.integers(2, 300), H=st.sampled_from((8, 16)),
       init=st.sampled_from(SCHEMES), gain=st.floats(0.0, 2.0),
       inputs=st.sampled_from(INPUT_KINDS), loss=st.sampled_from(("last", "all")),
       forget_bias=st.floats(-3, 6), seed=st.integers(0, 3))
def test_page_headline_never_contradicts_the_curve(cell, T, H, init, gain, inputs, loss,
                                                   forget_bias, seed):
    c = one_layer.FlowConfig(cell=cell, T=T, H=H, init=init, gain=gain, inputs=inputs,
                             loss=loss, forget_bias=forget_bias, seed=seed)
    r = one_layer.gradient_flow(c)
    sentence = one_layer.summary_sentence(r, T)
    if r.state_blowup_step is not None:
        assert str(r.state_blowup_step) in sentence
        assert not np.isfinite(r.forward.state_norms[r.state_blowup_step])
    else:
        check_headline(sentence, r.grad_norms)


def _compare_defaults(**changes):
    """Compare cells' three results at its defaults (with `changes`), as the page computes."""
    from dataclasses import replace

    config = replace(one_layer.FlowConfig.from_query({})[0], **changes)
    return config, {c: one_layer.gradient_flow(replace(config, cell=c))
                    for c in ("rnn", "lstm", "gru")}


def test_gru_update_gate_note_is_true_of_its_runs():
    from dataclasses import replace

    import rnnviz
    from rnnviz.engine.cells import CELL_LABELS

    config, results = _compare_defaults()
    at_0 = {c: r.grad_norms[0] for c, r in results.items()}
    assert min(at_0, key=at_0.get) == "gru"  # at the defaults the GRU fades fastest
    biases = claims.raised_update_biases(config.update_bias)
    assert biases and min(biases) > config.update_bias
    raised = {b: one_layer.gradient_flow(replace(config, cell="gru", update_bias=b))
              for b in biases}
    note = claims.gru_update_gate_note(results, config.update_bias, raised)
    headline = note[note.index("its gradient"):note.index(". With") + 1]
    check_headline(headline, results["gru"].grad_norms)

    def mean_z(c):
        params, xs = one_layer.params_and_inputs(c)
        _, gates = rnnviz.unroll("gru", params, xs[: c.T])
        return float(np.mean(np.asarray(gates["z"], np.float64)))

    gru = replace(config, cell="gru")
    z = mean_z(gru)
    b_z = config.update_bias
    assert f"b_z = {b_z:g} its update gates average z = {z:.2f}" in note
    assert f"(σ({b_z:g}) = {1 / (1 + np.exp(-b_z)):.2f})" in note
    assert f"only a fraction z ≈ {z:.2f} of the gradient" in note
    assert abs(z - 0.5) < 0.05  # "about half": b_z = 0 gives σ(0) = ½
    # The bias named: the smallest tried that delivers more to step 0 than the others.
    best = max(("rnn", "lstm"), key=at_0.get)
    winners = [b for b in biases if raised[b].grad_norms[0] > at_0[best]]
    assert winners
    b = winners[0]
    r = raised[b]
    assert f"at b_z = {b:g} (mean z = {mean_z(replace(gru, update_bias=b)):.2f})" in note
    clause = note[note.index("the same GRU's gradient"):]
    check_headline(clause[:clause.index(", and")] + ".", r.grad_norms)
    assert (f"{r.grad_norms[0]:.1e} reaches step 0, more than the {CELL_LABELS[best]}'s "
            f"{at_0[best]:.1e}.") in note
    assert r.grad_norms[0] > 10 * at_0["gru"]  # it does carry the gradient further


@pytest.mark.parametrize("settings", [{}, dict(T=300, H=64, seed=4), dict(init="glorot", gain=1.2),
                                      dict(T=40, H=8, update_bias=2.5), dict(update_bias=3.0)])
def test_the_page_runs_only_the_raised_grus_the_note_needs(settings):
    """The Compare page stops at the first raised bias that beats the other cells: the note
    is the one that every raised bias gives."""
    from dataclasses import replace

    config, results = _compare_defaults(**settings)
    every = {b: one_layer.gradient_flow(replace(config, cell="gru", update_bias=b))
             for b in claims.raised_update_biases(config.update_bias)}
    ran = []
    needed = claims.raised_gru_runs(results, config.update_bias,
                                    lambda b: ran.append(b) or every[b])
    assert list(needed) == ran == sorted(ran)
    assert (claims.gru_update_gate_note(results, config.update_bias, needed)
            == claims.gru_update_gate_note(results, config.update_bias, every))
    if not claims.gru_fades_fastest(results):
        assert needed == {}


def test_gru_update_gate_note_only_when_the_gru_fades_fastest():
    config, results = _compare_defaults(update_bias=3.0)
    at_0 = {c: r.grad_norms[0] for c, r in results.items()}
    assert min(at_0, key=at_0.get) != "gru"
    assert not claims.gru_fades_fastest(results)
    assert claims.gru_update_gate_note(results, config.update_bias, {}) is None
