"""One layer of a student's model, as the single-layer pages show it (rnnviz.experiments.model_layers):
the inputs a layer reads inside the model, checked against the layers run one at a time,
and its gradient against the whole model's, where the two losses are the same."""
from dataclasses import replace

import numpy as np
import pytest

from rnnviz.engine.bptt import unroll
from rnnviz.engine.cells import CellParams, Network
from rnnviz.engine.init import init_params
from rnnviz.experiments import deep as deep_exp
from rnnviz.experiments import model_files, model_layers, one_layer
from tests.fixtures import model_files as fx

T = 30


def torch_model(cell="gru", layers=2, bidirectional=True, hidden_size=8):
    data = fx.safetensors_bytes(fx.torch_state_dict(cell, layers=layers,
                                                    bidirectional=bidirectional,
                                                    hidden_size=hidden_size))
    return model_files.load_model_file("m.safetensors", data)


def mixed_model():
    """Keras's Bidirectional(LSTM(8, return_sequences=True)) under LSTM(4), built by hand."""
    import jax

    key = jax.random.PRNGKey(0)
    bottom = init_params(key, "lstm", 3, 8, bidirectional=True, layers=1)
    bottom = bottom.layers[0] if isinstance(bottom, Network) else bottom
    top = init_params(jax.random.PRNGKey(1), "lstm", 16, 4)
    net = Network((tuple(bottom), (top,)))
    return model_files.LoadedModel("lstm", 2, True, 8, 3, net, None, "hand-made",
                                   returns_sequences=False, directions=(2, 1),
                                   hidden_sizes=(8, 4), framework="keras")


def inputs(model, T=T):
    return deep_exp.model_inputs(model, deep_exp.DeepConfig(T=T, seed=3))


def one_way(cell, p, xs):
    return np.asarray(unroll(cell, p, xs)[0])


def test_layer_inputs_are_the_outputs_of_the_layer_below():
    """Layer 2 reads [forward, backward] of layer 1, each direction run on its own here."""
    model = torch_model()
    xs = inputs(model)
    net = model_layers.network(model)
    fwd = one_way(model.cell, net.layers[0][0], xs[:T])
    bwd = one_way(model.cell, net.layers[0][1], xs[:T][::-1])[::-1]
    below = np.concatenate([fwd, bwd], axis=-1)
    got = model_layers.layer_inputs(model, xs, T, (1, 0))
    assert got.shape == (xs.shape[0],) + below.shape[1:]
    np.testing.assert_allclose(got[:T], below, rtol=1e-5, atol=1e-6)
    assert not got[T:].any()  # padding stays zero
    # The backward direction reads them from the end.
    back = model_layers.layer_inputs(model, xs, T, (1, 1))
    np.testing.assert_allclose(back[:T], below[::-1], rtol=1e-5, atol=1e-6)
    # Layer 1 reads the model's own inputs (reversed for its backward direction).
    np.testing.assert_array_equal(model_layers.layer_inputs(model, xs, T, (0, 0))[:T], xs[:T])
    np.testing.assert_array_equal(model_layers.layer_inputs(model, xs, T, (0, 1))[:T],
                                  xs[:T][::-1])


def test_a_layers_states_are_the_models_own():
    """Run as a one-layer cell on its view's inputs, layer 2 ← gives the model's states."""
    model = torch_model(cell="lstm")
    xs = inputs(model)
    view = model_layers.layer_view(model, xs, T, (1, 1))
    top = np.asarray(unroll(model.cell, model.params, xs, length=T)[0])[:T]
    H = model.hidden_size
    mine = one_way(view.cell, view.params, view.xs)[:T]
    np.testing.assert_allclose(mine[::-1], top[..., H:], rtol=1e-5, atol=1e-6)
    assert isinstance(view.params, CellParams) and view.hidden_size == H


@pytest.mark.parametrize("bidirectional", (False, True))
def test_top_layer_gradient_is_the_whole_models(bidirectional):
    """With the loss on the top layer's last output, the one-layer view of the top layer
    has the gradient the whole model's pass gives that layer (deep page): for the backward
    direction, the model's loss on the first step, read in reverse; the view's readout
    weighs the H units of one direction alone (×√2 against the pair's D·H)."""
    model = torch_model(bidirectional=bidirectional)
    c = deep_exp.DeepConfig(T=T, seed=3, read="last")
    xs = inputs(model)
    flow_config = one_layer.FlowConfig(cell=model.cell, T=T, H=model.hidden_size, loss="last")
    view = model_layers.layer_view(model, xs, T, (1, 0))
    got = one_layer.gradient_flow(flow_config, view.params, view.xs).grad_norms
    deep = deep_exp.deep_flow(deep_exp.model_config(model, c), model.params, xs).depth_map
    D = 2 if bidirectional else 1
    np.testing.assert_allclose(got, deep[D] * np.sqrt(D), rtol=1e-4)  # layer 2 →
    if bidirectional:
        first = deep_exp.deep_flow(deep_exp.model_config(model, replace(c, read="first")),
                                   model.params, xs).depth_map
        view = model_layers.layer_view(model, xs, T, (1, 1))
        got = one_layer.gradient_flow(flow_config, view.params, view.xs).grad_norms
        np.testing.assert_allclose(got, first[3][::-1] * np.sqrt(2), rtol=1e-4)


def test_every_page_view_runs_on_a_layer():
    """Gate activations, Why it vanishes and Connectivity take a layer's params and inputs."""
    model = torch_model(cell="lstm", hidden_size=8)
    xs = inputs(model, T=40)
    view = model_layers.layer_view(model, xs, 40, (1, 1))
    c = one_layer.FlowConfig(cell="lstm", T=40, H=8)
    gates = one_layer.gate_activity(c, view.params, view.xs)
    assert gates.gates["f"].shape == (40, 8)
    jac = one_layer.jacobian_analysis(c, view.params, view.xs)
    assert np.isfinite(jac.profile).all()
    conn = one_layer.connectivity_map(c, view.params, view.xs)
    assert conn.log10_map.shape == (40, 40)
    # What layer 2 ← remembers of the vector it reads at step s: a one-way map.
    later = conn.steps[None, :] > conn.steps[:, None]
    assert np.isnan(conn.log10_map[later]).all()


def test_mixed_stack_choices_and_words():
    model = mixed_model()
    assert model_layers.layer_shape(model) == ((2, 1), (8, 4))
    assert model_layers.choices(model) == [(0, 0), (0, 1), (1, 0)]
    assert model_layers.default_choice(model) == (1, 0)
    assert model_layers.model_words(model) == "2-layer LSTM (bidirectional, then one-way)"
    assert model_layers.choice_label(model, (0, 1)) == "layer 1 of 2, backward (←), H = 8"
    assert model_layers.choice_label(model, (1, 0)) == "layer 2 of 2, H = 4"
    xs = inputs(model)
    view = model_layers.layer_view(model, xs, T, (1, 0))
    assert view.xs.shape[-1] == 16 and view.hidden_size == 4
    assert view.title == "Your 2-layer LSTM (bidirectional, then one-way), layer 2 of 2"
    assert "16 numbers per step" in view.inputs
    with pytest.raises(ValueError):
        model_layers.layer_view(model, xs, T, (1, 1))


def test_inputs_are_said():
    words = mixed_model()._replace(embedding=np.zeros((50, 3), np.float32))
    text = model_layers.inputs_sentence(words, (0, 1))
    assert "random token ids" in text and "50 ids" in text and "3 numbers" in text
    assert "T − 1 − t" in text  # the backward direction's steps
    noise = model_layers.inputs_sentence(torch_model())
    assert "Gaussian noise" in noise and "I = 3" in noise
    one = torch_model(layers=1, bidirectional=False)
    assert model_layers.is_one_layer(one)
    assert model_layers.view_title(one, (0, 0)) == "Your GRU"
