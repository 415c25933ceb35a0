"""The Deep & bidirectional experiment and page: numbers against independent computations,
sentences against the numbers."""
import functools
import re

import jax
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.experiments import deep
from tests.test_claims import check_headline

PAGE = "pages/8_Deep_bidirectional.py"


def config(**kw) -> deep.DeepConfig:
    c, notices = deep.DeepConfig.from_query({k: str(v) for k, v in kw.items()})
    assert not notices
    return c


@pytest.mark.parametrize("read", deep.READS)
def test_layer_norms_equal_separate_grads(read):
    """Each layer's ‖∂L/∂h_t‖ from the one pass equals jax.grad of the loss with respect
    to that layer's state, taken one step at a time through a perturbed re-run."""
    c = config(cell="gru", layers=2, bidirectional="true", T=12, H=8, read=read)
    r = deep.deep_flow(c)
    params, xs = deep.make_params(c), deep.inputs(c)[: c.T]
    mask = deep.read_mask(read, c.T, c.T)
    loss = functools.partial(deep.masked_readout_loss, mask=mask)
    grads = np.asarray(rnnviz.hidden_grads(c.cell, params, xs, loss)["h"], np.float64)
    expected = np.sqrt(np.mean(np.sum(grads**2, axis=-1), axis=-1)).reshape(-1, c.T)
    np.testing.assert_allclose(r.depth_map, expected, rtol=1e-5)
    base = rnnviz.unroll(c.cell, params, xs)[0]
    assert base.shape == (c.T, deep.one_layer.BATCH, 2 * c.H)


def test_top_backward_direction_hears_only_the_last_step():
    """REFERENCES.md: with the loss on the last output, the top layer's backward
    direction gets a gradient at t = T − 1 alone."""
    c = config(cell="lstm", layers=2, bidirectional="true", T=30, H=8, read="last")
    top_backward = deep.deep_flow(c).depth_map[3]
    assert top_backward[-1] > 0 and (top_backward[:-1] == 0).all()
    first = deep.deep_flow(config(cell="lstm", layers=2, bidirectional="true", T=30,
                                  H=8, read="first")).depth_map
    assert (first[2, 1:] == 0).all() and (first[3] > 0).all()  # now the forward one


@pytest.mark.parametrize("cell", ("rnn", "lstm"))
def test_layer_sentences_true_of_their_curves(cell):
    c = config(cell=cell, layers=3, bidirectional="true", T=80, H=16, read="all")
    for p in deep.deep_flow(c).profiles:
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
    r = deep.two_sided(c)
    later = r.steps[None, :] > r.steps[:, None]
    assert np.isnan(r.unidirectional[later]).all()  # one direction: s > t never computed
    assert np.isfinite(r.bidirectional[later]).all()  # two: both triangles filled
    v = np.power(10.0, r.bidirectional.astype(np.float64))
    share = np.mean((v * later).sum(axis=1) / v.sum(axis=1))
    assert r.future_share == pytest.approx(share, rel=1e-6)
    assert f"{share:.0%} of what output y_t depends on" in deep.two_sided_sentence(r)


def test_bidirectional_map_against_jacobian():
    """One entry of ‖∂y_t/∂x_s‖ against jax.jacrev of the network's output."""
    c = config(cell="rnn", layers=2, bidirectional="true", T=16, H=8)
    r = deep.two_sided(c)
    params = deep.make_params(c)
    xs = deep.inputs(c)[: c.T, : deep.CONNECTIVITY_SEQUENCES]
    t, s = 3, 10  # s > t: only the backward direction connects them
    jac = jax.jacrev(lambda x: rnnviz.unroll(c.cell, params, x)[0][t])(xs)  # (B, DH, T, B, I)
    per_seq = [np.linalg.norm(np.asarray(jac[b, :, s, b, :], np.float64))
               for b in range(xs.shape[1])]
    expected = np.log10(np.sqrt(np.mean(np.square(per_seq))))
    i, j = list(r.steps).index(t), list(r.steps).index(s)
    assert r.bidirectional[i, j] == pytest.approx(expected, abs=1e-4)


def test_config_bounds_and_url():
    c, notices = deep.DeepConfig.from_query({"layers": "9", "T": "5000", "H": "128",
                                             "bidirectional": "maybe", "read": "x"})
    assert (c.layers, c.T) == (deep.MAX_LAYERS, deep.MAX_T)
    assert c.H in deep.HIDDEN_SIZES and len(notices) == 5
    assert deep.DeepConfig.from_query(c.to_query())[0] == c


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
    from rnnviz.presentation import plots

    labels = ["layer 1 →", "layer 1 ←", "layer 2 →", "layer 2 ←"]
    styles = plots.layer_lines("gru", labels)
    assert styles["layer 1 →"].colour == styles["layer 1 ←"].colour
    assert styles["layer 1 →"].colour != styles["layer 2 →"].colour
    # one dash per layer, one marker per direction (issue 21)
    assert styles["layer 1 →"].dash == styles["layer 1 ←"].dash != styles["layer 2 →"].dash
    assert styles["layer 1 ←"].marker != styles["layer 1 →"].marker
    assert plots.layer_lines("lstm", ["layer 1"])["layer 1"].colour == plots.CELL_COLOURS["lstm"]
    mixed = plots.layer_lines("lstm", ["layer 1 →", "layer 1 ←", "layer 2"])  # a Keras stack
    assert mixed["layer 2"].dash != mixed["layer 1 →"].dash


def test_two_sided_maps_of_every_length_share_one_program_per_shape():
    """The maps of every length bucket and stride run in one program per cell and width
    (the padded steps, layers and direction skipped, the empty chunks of slots too): each
    equals the public API's map of the network on its own unpadded inputs."""
    from rnnviz.engine import jacobians, programs

    configs = [config(cell="lstm", layers=3, bidirectional="true", T=T, H=8) for T in (30, 150, 400)]
    programs.clear()
    results = [deep.two_sided(c) for c in configs]
    # one program: the network as set and its unidirectional twin are both its data
    names = [key[0].__name__ for key in programs._programs]
    assert names.count("_padded_connectivity") == 1 and "_connectivity_log10" not in names
    for c, r in zip(configs, results):
        stride = deep.map_stride(c.T)
        assert r.steps.tolist() == list(range(0, c.T, stride))
        xs = deep.inputs(c)[: c.T, : deep.CONNECTIVITY_SEQUENCES]
        want = jacobians.connectivity(c.cell, deep.make_params(c), xs, stride=stride)
        np.testing.assert_allclose(r.bidirectional, want, atol=1e-3)


# --- uploaded models, mixed stacks (Keras's Bidirectional under a one-way layer) ----------


def mixed_network(cell, directions, sizes, input_size, seed):
    """Random weights for a stack whose layers differ in directions and units."""
    from rnnviz.engine.cells import GATE_BLOCKS, CellParams, Network

    rng = np.random.default_rng(seed)
    layers, width = [], input_size
    for D, H in zip(directions, sizes):
        gh, bound = GATE_BLOCKS[cell] * H, 1.5 / np.sqrt(H)
        layers.append(tuple(CellParams(*(rng.uniform(-bound, bound, shape).astype(np.float32)
                                         for shape in ((gh, width), (gh, H), (gh,), (gh,))))
                            for _ in range(D)))
        width = D * H
    return Network(tuple(layers))


def uploaded(params, embedding=None, returns_sequences=False, framework="keras"):
    """A model_files.LoadedModel of `params` as an upload would give it."""
    from rnnviz.experiments.model_files import LoadedModel

    net = rnnviz.engine.cells.as_network(params)
    return LoadedModel("lstm", net.num_layers, 2 in net.directions, net.hidden_sizes[0],
                       net.input_size if embedding is None else embedding.shape[1], params,
                       embedding, "test", returns_sequences, net.directions, net.hidden_sizes,
                       framework)


@pytest.mark.parametrize("read", ("last", "all"))
def test_deep_flow_of_a_mixed_stack_has_a_row_per_layer_and_direction(read):
    """One profile and map row per layer and direction, labelled by each layer's own
    directions, equal to hidden_grads of the same loss (per layer, (D_k, T, B, H_k))."""
    c = config(cell="lstm", T=12, read=read)
    net = mixed_network("lstm", (2, 1), (6, 4), 2, seed=3)
    r = deep.deep_flow(c, net, deep.inputs(c))
    assert [p.label for p in r.profiles] == ["layer 1 →", "layer 1 ←", "layer 2"]
    assert all(p.sentence.startswith(p.label) or p.label in p.sentence for p in r.profiles)
    assert "layer 1" not in r.profiles[2].sentence
    xs = deep.inputs(c)[: c.T]
    loss = functools.partial(deep.masked_readout_loss, mask=deep.read_mask(read, c.T, c.T))
    grads = rnnviz.hidden_grads(c.cell, net, xs, loss)["h"]
    assert [g.shape for g in grads] == [(2, c.T, deep.one_layer.BATCH, 6),
                                        (1, c.T, deep.one_layer.BATCH, 4)]
    want = np.concatenate([np.sqrt(np.mean(np.sum(np.asarray(g, np.float64) ** 2, axis=-1), axis=-1))
                           for g in grads])
    np.testing.assert_allclose(r.depth_map, want, rtol=1e-5)
    assert (r.depth_map[1, :-1] > 0).all()  # layer 2 reads layer 1's backward half at every step


def test_model_connectivity_of_an_embedding_model_against_jacobian():
    """‖∂y_t/∂x_s‖ of an uploaded mixed stack, x_s the embedding vector at step s: an entry
    with s > t (heard through layer 1's backward direction) against jax.jacrev."""
    rng = np.random.default_rng(4)
    embedding = rng.normal(size=(20, 3)).astype(np.float32)
    model = uploaded(mixed_network("lstm", (2, 1), (4, 3), 3, seed=5), embedding)
    c = config(T=16)
    r = deep.model_connectivity(model, c)
    assert r.two_sided and r.log10_map.shape == (len(r.steps), len(r.steps))
    assert r.steps.tolist() == list(range(16))  # 16 steps fit the model's slots
    xs = deep.model_inputs(model, deep.model_config(model, c))[: c.T, : deep.CONNECTIVITY_SEQUENCES]
    t, s = 3, 11
    jac = jax.jacrev(lambda x: rnnviz.unroll("lstm", model.params, x)[0][t])(xs)  # (B, 3, T, B, E)
    per_seq = [np.linalg.norm(np.asarray(jac[b, :, s, b, :], np.float64)) for b in range(xs.shape[1])]
    assert r.log10_map[t, s] == pytest.approx(np.log10(np.sqrt(np.mean(np.square(per_seq)))),
                                              abs=1e-4)
    assert 0 < r.future_share < 1
    assert f"{r.future_share:.0%} of what output y_t depends on" in \
        deep.model_connectivity_sentence(r)
    one_way = deep.model_connectivity(uploaded(mixed_network("lstm", (1, 1), (4, 3), 3, 6),
                                               embedding), c)
    later = one_way.steps[None, :] > one_way.steps[:, None]
    assert not one_way.two_sided and np.isnan(one_way.log10_map[later]).all()
    assert "upper triangle (s > t) is blank" in deep.model_connectivity_sentence(one_way)


def test_model_map_slots_bound_the_work_of_wide_inputs():
    wide = uploaded(mixed_network("lstm", (1,), (4,), 128, seed=7))
    assert deep.model_map_slots(wide) == deep.MIN_MODEL_MAP_STEPS
    narrow = uploaded(mixed_network("lstm", (1,), (4,), 2, seed=7))
    assert deep.model_map_slots(narrow) == deep.MODEL_MAP_STEPS
    r = deep.model_connectivity(wide, config(T=100))
    assert len(r.steps) <= deep.MIN_MODEL_MAP_STEPS and r.steps[-1] < 100


def test_model_read_sentences_say_which_reading():
    net = mixed_network("lstm", (2,), (4,), 3, seed=8)
    keras_final = uploaded(net)
    assert "the backward state after x₀" in deep.model_read_sentence(keras_final, "last")
    assert "a pair your model does not output" in deep.model_read_sentence(keras_final, "all")
    torch = uploaded(net, returns_sequences=True, framework="pytorch")
    assert "PyTorch's output[t]" in deep.model_read_sentence(torch, "last")
    assert deep.model_read_mask(torch, "last", 5, 8).shape == (8,)
    mask = deep.model_read_mask(keras_final, "last", 5, 8)
    assert mask.shape == (8, 2) and mask[4, 0] == mask[0, 1] == 1 and mask.sum() == 2
