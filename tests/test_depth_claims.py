"""Every sentence the Deep & bidirectional page says about depth and about each layer's
profile, read back as a student reads it and recomputed from the arrays it describes.

The checkers below have their own arithmetic (not the code that wrote the sentences): the
steps a sentence names, the factors it states, the order of the layers it claims.
"""
import re

import numpy as np
import pytest

from rnnviz.experiments import deep
from tests.test_claims import FLOOR, NUM, check_headline, close, no_path_zeros, parse_steps

STEPS = r"steps? \d+(?:–\d+)?(?:(?:, | and )\d+(?:–\d+)?)*"
LEAD = re.compile(r"From its peak at step (\d+) (back|back along its reading \(to later "
                  r"steps\)) to step (\d+) \((?:all (\d+) steps|(\d+) of the (\d+) steps)\), ")
REST = re.compile(r"\. (?=On the other side|Its other|Over all)")


def config(**kw) -> deep.DeepConfig:
    c, notices = deep.DeepConfig.from_query({k: str(v) for k, v in kw.items()})
    assert not notices
    return c


# Small networks, one compile each; the cases (a 3-layer bidirectional LSTM reading
# the last step, 4 one-way layers) and the middle read, where both directions have zeros.
CASES = {
    "bi-lstm-3-last": dict(cell="lstm", layers=3, bidirectional="true", T=60, H=8, read="last"),
    "lstm-4-last": dict(cell="lstm", layers=4, bidirectional="false", T=100, H=16, read="last"),
    "bi-gru-2-middle": dict(cell="gru", layers=2, bidirectional="true", T=40, H=8,
                            read="middle"),
    "rnn-2-all": dict(cell="rnn", layers=2, bidirectional="false", T=60, H=8, read="all"),
}
_RESULTS = {}


def result(name) -> deep.DeepResult:
    if name not in _RESULTS:
        _RESULTS[name] = deep.deep_flow(config(**CASES[name]))
    return _RESULTS[name]


def reverse_steps(text: str, T: int) -> str:
    """A backward profile's sentence with every step number s it names (not step counts)
    rewritten as T − 1 − s: its steps as indices of the reversed segment the checker reads."""
    def flip(m):
        steps = sorted(T - 1 - s for s in parse_steps(m.group(0)))
        word = "step" if len(steps) == 1 else "steps"
        return f"{word} " + ", ".join(str(s) for s in steps)
    return re.sub(r"\b" + STEPS, flip, text)


def check_layer_sentence(p: deep.LayerProfile) -> None:
    """The layer's sentence names the part it describes (from its peak back along its own
    reading), is true of that part, and says what the rest of the curve does."""
    curve, T = p.norms, p.norms.size
    backward = "←" in p.label
    peak = int(np.argmax(np.where(np.isfinite(curve), curve, -np.inf)))
    segment = curve[peak:][::-1] if backward else curve[: peak + 1]
    rest = np.arange(peak) if backward else np.arange(peak + 1, T)
    head, *others = REST.split(p.sentence)
    alone = f"At step {peak}, where its own reading starts, {p.label}'s ‖∂L/∂h_t‖ is largest"
    if head.startswith(alone):
        assert segment.size == 1
    else:
        m = LEAD.match(head)
        assert m, p.sentence
        assert int(m.group(1)) == peak
        assert (m.group(2) != "back") == backward
        assert int(m.group(3)) == (T - 1 if backward else 0)
        count, total = (int(m.group(4)),) * 2 if m.group(4) else map(int, m.group(5, 6))
        assert (count, total) == (segment.size, T)
        body = head[m.end():]
        if count < T:  # part of the curve: never "all 58 steps" of it
            assert f"all {count} steps" not in body
        check_headline(reverse_steps(body, T) if backward else body, segment)
    zero = no_path_zeros(curve)
    said_zero, said_rest = [], False
    for sentence in others:
        if m := re.fullmatch(rf"On the other side of step {peak}, at ({STEPS}), it is exactly "
                             r"0: no path from there to the loss\.?", sentence):
            said_zero = parse_steps(m.group(1))
            assert said_zero == [int(t) for t in rest if zero[t]]
        elif m := re.fullmatch(rf"Its other ({STEPS}) lie within the range of that part\.?",
                               sentence):
            shown = parse_steps(m.group(1))
            part = np.setdiff1d(np.flatnonzero(curve >= FLOOR), rest)
            assert shown == [int(t) for t in rest if np.isfinite(curve[t]) and curve[t] >= FLOOR]
            assert curve[part].min() <= curve[shown].min() and curve[shown].max() <= curve[part].max()
            said_rest = True
        else:
            m = re.fullmatch(r"Over all (\d+) steps(?:, where it is at least 1e-30,)? it spans "
                             + NUM + r"× \(largest at step (\d+), smallest at step (\d+)\)\.?",
                             sentence)
            assert m, sentence
            ok = np.isfinite(curve) & (curve >= FLOOR)
            assert int(m.group(1)) == T
            assert close(float(m.group(2)), curve[ok].max() / curve[ok].min())
            assert curve[int(m.group(3))] == curve[ok].max()
            assert curve[int(m.group(4))] == curve[ok].min()
            said_rest = True
    assert bool(said_zero) == bool(zero[rest].any()), p.sentence
    assert said_rest == bool((np.isfinite(curve[rest]) & (curve[rest] >= FLOOR)).any()), p.sentence


def layer_means(result, steps) -> np.ndarray:
    """Each layer's mean over `steps` of the norm of its directions' gradients together."""
    labels = [p.label for p in result.profiles]
    out = []
    for k in sorted({int(label.split()[1]) for label in labels}):
        rows = [i for i, label in enumerate(labels) if int(label.split()[1]) == k]
        joint = np.sqrt((result.depth_map[rows].astype(np.float64) ** 2).sum(axis=0))
        out.append(joint[steps].mean())
    return np.array(out)


DEPTH = re.compile(
    r"(?:At the steps farthest from where the loss reads \((" + STEPS + r")\)|On average over "
    r"every step), layer (\d+) receives the most gradient, ‖∂L/∂h_t‖ = " + NUM + r" on average"
    r"( \(its two directions together\))?, and layer (\d+) the least \(" + NUM + ": " + NUM
    + r"× less\)\. Here the gradient (fades with depth: each layer receives less than the one "
    r"above it|does not fade with depth: each layer receives more than the one above it|"
    r"neither fades nor grows steadily with depth: the layers are not in order)\.")


def check_depth_sentence(sentence: str, result) -> None:
    """Which layer receives the most and the least at the steps far from the loss, by what
    factor, and the order of the layers, against the depth map."""
    T = result.depth_map.shape[1]
    m = DEPTH.fullmatch(sentence)
    assert m, sentence
    if m.group(1):
        steps = parse_steps(m.group(1))
        assert len(steps) == max(1, round(0.1 * T))
        distance = np.min(np.abs(np.arange(T)[:, None] - np.array(result.read_steps)), axis=1)
        others = np.setdiff1d(np.arange(T), steps)
        assert distance[steps].min() >= distance[others].max()  # the farthest ones
    else:
        assert result.read_steps == []
        steps = list(range(T))
    v = layer_means(result, steps)
    most, least = int(m.group(2)), int(m.group(5))
    assert most == np.argmax(v) + 1 and least == np.argmin(v) + 1
    assert close(float(m.group(3)), v.max()) and close(float(m.group(6)), v.min())
    assert close(float(m.group(7)), v.max() / v.min())
    assert bool(m.group(4)) == any("←" in p.label for p in result.profiles)
    down = np.diff(v[::-1])  # from the top layer down to layer 1
    fades, grows = (down < 0).all(), (down > 0).all()
    assert m.group(8).startswith("fades") == fades
    assert m.group(8).startswith("does not fade") == grows


@pytest.mark.parametrize("name", CASES)
def test_every_layer_sentence_names_its_part_and_is_true(name):
    for p in result(name).profiles:
        check_layer_sentence(p)


@pytest.mark.parametrize("name", CASES)
def test_depth_sentence_is_computed_from_the_map(name):
    check_depth_sentence(deep.depth_sentence(result(name)), result(name))


def test_four_one_way_layers_are_not_said_to_fade_with_depth_when_layer_1_hears_more():
    """The issue's case: at early steps layer 1 receives more than layer 4."""
    r = result("lstm-4-last")
    v = layer_means(r, list(range(10)))
    assert v[0] > v[-1]  # what the map shows
    sentence = deep.depth_sentence(r)
    assert "fades with depth" not in sentence and "layer 1 receives the most" in sentence


def test_structural_zeros_are_said_as_no_path_not_below_the_floor():
    """The top backward layer reading the last step hears only t = T − 1."""
    r = result("bi-lstm-3-last")
    top_backward = next(p for p in r.profiles if p.label == "layer 3 ←")
    assert (top_backward.norms[:-1] == 0).all()
    assert "at steps 0–58, it is exactly 0: no path from there to the loss" in top_backward.sentence
    for p in r.profiles:
        assert "1e-30" not in p.sentence


def test_the_checkers_catch_false_sentences():
    r = result("lstm-4-last")
    true = deep.depth_sentence(r)
    for false in (true.replace("does not fade with depth: each layer receives more",
                               "fades with depth: each layer receives less"),
                  re.sub(r"\(steps 0–9\)", "(steps 0–4)", true),
                  true.replace("layer 1 receives", "layer 2 receives")):
        assert false != true
        with pytest.raises(AssertionError):
            check_depth_sentence(false, r)
    p = result("rnn-2-all").profiles[0]
    for false in (re.sub(r"\(\d+ of the", "(7 of the", p.sentence),
                  p.sentence.replace("these", "all"), re.sub(r"Over all.*", "", p.sentence)):
        assert false != p.sentence, p.sentence
        with pytest.raises(AssertionError):
            check_layer_sentence(deep.LayerProfile(p.label, p.norms, p.facts, false))


def test_one_layer_has_no_depth_sentence_to_make():
    r = deep.deep_flow(config(cell="rnn", layers=1, bidirectional="false", T=20, H=8))
    assert "no depth to compare" in deep.depth_sentence(r)


def test_the_page_says_the_computed_sentence_not_the_fixed_one():
    """Without running the page (the AppTests in test_deep_page.py do): its text block."""
    source = open("pages/8_Deep_bidirectional.py", encoding="utf-8").read()
    assert "go down the rows to see it fade with depth" not in source
    assert "deep.depth_sentence(result)" in source
    assert "(←) read the sequence" not in source
