"""The Deep & bidirectional experiment and page: numbers against independent computations,
sentences against the numbers."""
import functools
import re

import jax
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz import deepflow
from tests.test_claims import check_headline

PAGE = "pages/8_Deep_bidirectional.py"


def config(**kw) -> deepflow.DeepConfig:
    c, notices = deepflow.DeepConfig.from_query({k: str(v) for k, v in kw.items()})
    assert not notices
    return c


@pytest.mark.parametrize("read", deepflow.READS)
def test_layer_norms_equal_separate_grads(read):
    """Each layer's ‖∂L/∂h_t‖ from the one pass equals jax.grad of the loss with respect
    to that layer's state, taken one step at a time through a perturbed re-run."""
    c = config(cell="gru", layers=2, bidirectional="true", T=12, H=8, read=read)
    r = deepflow.deep_flow(c)
    params, xs = deepflow.make_params(c), deepflow.inputs(c)[: c.T]
    mask = deepflow.read_mask(read, c.T, c.T)
    loss = functools.partial(deepflow.masked_readout_loss, mask=mask)
    grads = np.asarray(rnnviz.hidden_grads(c.cell, params, xs, loss)["h"], np.float64)
    expected = np.sqrt(np.mean(np.sum(grads**2, axis=-1), axis=-1)).reshape(-1, c.T)
    np.testing.assert_allclose(r.depth_map, expected, rtol=1e-5)
    base = rnnviz.unroll(c.cell, params, xs)[0]
    assert base.shape == (c.T, deepflow.gradflow.BATCH, 2 * c.H)


def test_top_backward_direction_hears_only_the_last_step():
    """REFERENCES.md: with the loss on the last output, the top layer's backward
    direction gets a gradient at t = T − 1 alone."""
    c = config(cell="lstm", layers=2, bidirectional="true", T=30, H=8, read="last")
    top_backward = deepflow.deep_flow(c).depth_map[3]
    assert top_backward[-1] > 0 and (top_backward[:-1] == 0).all()
    first = deepflow.deep_flow(config(cell="lstm", layers=2, bidirectional="true", T=30,
                                      H=8, read="first")).depth_map
    assert (first[2, 1:] == 0).all() and (first[3] > 0).all()  # now the forward one


@pytest.mark.parametrize("cell", ("rnn", "lstm"))
def test_layer_sentences_true_of_their_curves(cell):
    c = config(cell=cell, layers=3, bidirectional="true", T=80, H=16, read="all")
    for p in deepflow.deep_flow(c).profiles:
        curve = p.norms
        peak = int(np.argmax(np.where(np.isfinite(curve), curve, -np.inf)))
        if "no step lies behind" in p.sentence:
            continue
        if "→" in p.label:
            check_headline(p.sentence.split(", ", 1)[1], curve[: peak + 1])
        else:  # the backward direction, read from its own end: print steps as t
            segment = curve[peak:][::-1]
            text = p.sentence.split(", ", 1)[1]
            # map printed steps back to indices of the reversed segment for the checker
            text = re.sub(r"from step (\d+) back",
                          lambda m: f"from step {curve.size - 1 - int(m.group(1))} back", text)
            check_headline(text, segment)


def test_two_sided_maps():
    c = config(cell="gru", layers=2, bidirectional="true", T=40, H=8)
    r = deepflow.two_sided(c)
    later = r.steps[None, :] > r.steps[:, None]
    assert np.isnan(r.unidirectional[later]).all()  # one direction: s > t never computed
    assert np.isfinite(r.bidirectional[later]).all()  # two: both triangles filled
    v = np.power(10.0, r.bidirectional.astype(np.float64))
    share = np.mean((v * later).sum(axis=1) / v.sum(axis=1))
    assert r.future_share == pytest.approx(share, rel=1e-6)
    assert f"{share:.0%} of what output y_t depends on" in deepflow.two_sided_sentence(r)


def test_bidirectional_map_against_jacobian():
    """One entry of ‖∂y_t/∂x_s‖ against jax.jacrev of the network's output."""
    c = config(cell="rnn", layers=2, bidirectional="true", T=16, H=8)
    r = deepflow.two_sided(c)
    params = deepflow.make_params(c)
    xs = deepflow.inputs(c)[: c.T, : deepflow.CONNECTIVITY_SEQUENCES]
    t, s = 3, 10  # s > t: only the backward direction connects them
    jac = jax.jacrev(lambda x: rnnviz.unroll(c.cell, params, x)[0][t])(xs)  # (B, DH, T, B, I)
    per_seq = [np.linalg.norm(np.asarray(jac[b, :, s, b, :], np.float64))
               for b in range(xs.shape[1])]
    expected = np.log10(np.sqrt(np.mean(np.square(per_seq))))
    i, j = list(r.steps).index(t), list(r.steps).index(s)
    assert r.bidirectional[i, j] == pytest.approx(expected, abs=1e-4)


def test_config_bounds_and_url():
    c, notices = deepflow.DeepConfig.from_query({"layers": "9", "T": "5000", "H": "128",
                                                 "bidirectional": "maybe", "read": "x"})
    assert (c.layers, c.T) == (deepflow.MAX_LAYERS, deepflow.MAX_T)
    assert c.H in deepflow.HIDDEN_SIZES and len(notices) == 5
    assert deepflow.DeepConfig.from_query(c.to_query())[0] == c


def test_page_renders_defaults_and_a_three_layer_lstm():
    for query in ({}, {"cell": "lstm", "layers": "3", "bidirectional": "false", "T": "60"}):
        at = AppTest.from_file("../app.py", default_timeout=300)
        at.query_params.update(query)
        at.switch_page(PAGE)
        at.run()
        assert not at.exception, at.exception
        assert len(at.get("plotly_chart")) == 3
        assert any("layer 1" in m.value for m in at.markdown)


def test_layer_lines_are_shades_of_the_cell_colour():
    from rnnviz import plots

    labels = ["layer 1 →", "layer 1 ←", "layer 2 →", "layer 2 ←"]
    styles = plots.layer_lines("gru", labels)
    assert styles["layer 1 →"].colour == styles["layer 1 ←"].colour
    assert styles["layer 1 →"].colour != styles["layer 2 →"].colour
    assert (styles["layer 1 ←"].dash, styles["layer 1 →"].dash) == ("dash", "solid")
    assert plots.layer_lines("lstm", ["layer 1"])["layer 1"].colour == plots.CELL_COLOURS["lstm"]


def test_two_sided_maps_of_every_length_share_one_program_per_shape():
    """The maps of every length bucket and stride run in one program per network shape
    (the padded steps and the empty chunks of slots skipped): each equals the public API's
    map of the network on its own unpadded inputs."""
    from rnnviz import analysis, programs

    configs = [config(cell="lstm", layers=3, bidirectional="true", T=T, H=8) for T in (30, 150, 400)]
    programs.clear()
    results = [deepflow.two_sided(c) for c in configs]
    # two programs: the network as set and its unidirectional twin
    assert [key[0].__name__ for key in programs._programs].count("_connectivity_log10") == 2
    for c, r in zip(configs, results):
        stride = deepflow.map_stride(c.T)
        assert r.steps.tolist() == list(range(0, c.T, stride))
        xs = deepflow.inputs(c)[: c.T, : deepflow.CONNECTIVITY_SEQUENCES]
        want = analysis.connectivity(c.cell, deepflow.make_params(c), xs, stride=stride)
        np.testing.assert_allclose(r.bidirectional, want, atol=1e-3)
