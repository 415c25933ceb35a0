"""Users' model files: real .keras files (Keras 3, JAX backend) and torch-named state_dicts
(safetensors, npz) load, reproduce their network's outputs, and every bad file gets a message."""
import io
import re
import zipfile

import numpy as np
import pytest

from tests.fixtures import model_files as fx

keras = fx.keras()  # KERAS_BACKEND=jax before the import

import rnnviz  # noqa: E402
from rnnviz.experiments import model_files  # noqa: E402
from rnnviz.experiments.model_files import load_model_file  # noqa: E402
from tests.reference import reference_unroll  # noqa: E402

T, B = 7, 3
# Keras's own variables trip numpy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def reference_stack(cell, sd, xs, layers, directions, prefix="rnn."):
    """Independent NumPy stack from torch-named arrays: layer k reads layer k−1's
    [forward, backward] outputs; the backward direction reads the sequence reversed."""
    inputs = xs
    for k in range(layers):
        outs = []
        for s in ("", "_reverse")[:directions]:
            w = [sd[f"{prefix}{n}_l{k}{s}"]
                 for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            hs, _ = reference_unroll(cell, *w, inputs[::-1] if s else inputs)
            outs.append(hs[::-1] if s else hs)
        inputs = np.concatenate(outs, axis=-1)
    return inputs  # (T, B, D*H)


def keras_out(model, upto, inputs):
    """The output of model.layers[upto] (Keras is batch-major), as numpy."""
    x = inputs
    for layer in model.layers[: upto + 1]:
        x = layer(x)
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("model_files")


@pytest.fixture(scope="module")
def seed(folder):
    model = fx.seed_model(T=T, vocab=50, embed=4, hidden=6)
    return model, fx.keras_bytes(model, folder)


@pytest.fixture(scope="module")
def bilstm(folder):
    model = fx.stacked_bilstm_model(T=T, input_size=3, hidden=8)
    return model, fx.keras_bytes(model, folder)


def keras_file(folder, name, *layers, seed=0):
    """A .keras file of Sequential([Input((T, 3)), *layers]) with random weights."""
    model = fx.randomize(keras.Sequential([keras.Input((T, 3)), *layers], name=name), seed)
    return model, fx.keras_bytes(model, folder)


@pytest.fixture(scope="module")
def gru(folder):
    return keras_file(folder, "gru", keras.layers.GRU(5, return_sequences=True), seed=2)


@pytest.fixture(scope="module")
def relu_nobias(folder):
    return keras_file(folder, "relu", keras.layers.SimpleRNN(
        5, activation="relu", use_bias=False, return_sequences=True), seed=3)


# --- Keras files reproduce Keras's outputs ---------------------------------------------


def test_seed_keras_model_reproduces_keras(seed):
    model, data = seed
    loaded = load_model_file("textbook.keras", data)
    assert (loaded.cell, loaded.layers, loaded.bidirectional) == ("rnn", 1, False)
    assert (loaded.hidden_size, loaded.input_size) == (6, 4)
    np.testing.assert_array_equal(loaded.embedding, model.layers[0].get_weights()[0])
    assert loaded.embedding.dtype == np.float32
    assert loaded.source == ("Keras Sequential: Embedding(50→4) → SimpleRNN(6, tanh) → "
                             "Dense(1)")
    tokens = np.random.default_rng(0).integers(0, 50, (B, T)).astype(np.int32)
    xs = loaded.embedding[tokens].transpose(1, 0, 2)  # time-major (T, B, E)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, xs)
    # SimpleRNN(H) returns the last state only.
    np.testing.assert_allclose(np.asarray(hs)[-1], keras_out(model, 1, tokens), atol=1e-5)
    # and the whole model: its Dense head on that state.
    kernel, bias = model.layers[2].get_weights()
    np.testing.assert_allclose(np.asarray(hs)[-1] @ kernel + bias, keras_out(model, 2, tokens),
                               atol=1e-5)


def test_keras_gru_reproduces_keras(gru):
    model, data = gru
    loaded = load_model_file("gru.keras", data)
    assert (loaded.cell, loaded.layers, loaded.hidden_size, loaded.input_size) == ("gru", 1, 5, 3)
    assert loaded.embedding is None
    x = np.random.default_rng(1).normal(size=(B, T, 3)).astype(np.float32)
    hs, gates = rnnviz.unroll(loaded.cell, loaded.params, x.transpose(1, 0, 2))
    np.testing.assert_allclose(np.asarray(hs).transpose(1, 0, 2), keras_out(model, 0, x),
                               atol=1e-5)


def test_keras_relu_rnn_without_bias_reproduces_keras(relu_nobias):
    model, data = relu_nobias
    loaded = load_model_file("relu.keras", data)
    assert loaded.cell == "rnn_relu"
    assert "SimpleRNN(5, relu)" in loaded.source
    x = np.random.default_rng(2).normal(size=(B, T, 3)).astype(np.float32)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, x.transpose(1, 0, 2))
    np.testing.assert_allclose(np.asarray(hs).transpose(1, 0, 2), keras_out(model, 0, x),
                               atol=1e-5)


def test_stacked_bidirectional_keras_model_reproduces_keras(bilstm):
    model, data = bilstm
    loaded = load_model_file("deep.keras", data)
    assert (loaded.cell, loaded.layers, loaded.bidirectional) == ("lstm", 2, True)
    assert (loaded.hidden_size, loaded.input_size) == (8, 3)
    assert loaded.source.startswith(
        "Keras Sequential: Bidirectional(LSTM(8)) → Dropout(0.3) → Bidirectional(LSTM(8)) → "
        "Dense(1); Dropout acts only in training")
    x = np.random.default_rng(3).normal(size=(B, T, 3)).astype(np.float32)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, x.transpose(1, 0, 2))
    assert hs.shape == (T, B, 16)
    # model.layers: Bidirectional, Dropout (identity at inference), Bidirectional, Dense.
    np.testing.assert_allclose(np.asarray(hs).transpose(1, 0, 2), keras_out(model, 2, x),
                               atol=1e-5)


# --- the last recurrent layer read as Keras reads it ------------------------------------
# Keras's Bidirectional with return_sequences=False outputs [forward after x_{T−1}, backward
# after x_0]; rnnviz once read both halves at T − 1, so the backward gradient was dead.

TEXT_T, TEXT_B = 6, 3


@pytest.fixture(scope="module")
def bidirectional_text(folder):
    model = fx.bidirectional_text_model(T=TEXT_T, vocab=30, embed=4, hidden=5)
    return model, fx.keras_bytes(model, folder)


@pytest.fixture(scope="module")
def mixed_stack(folder):
    model = fx.mixed_stack_model(T=TEXT_T, vocab=30, embed=4, hidden=(5, 3))
    return model, fx.keras_bytes(model, folder)


def token_inputs(loaded, seed):
    """Token ids (B, T) for Keras and their embedding vectors (T, B, E) for rnnviz."""
    tokens = np.random.default_rng(seed).integers(0, 30, (TEXT_B, TEXT_T)).astype(np.int32)
    return tokens, loaded.embedding[tokens].transpose(1, 0, 2)


def deep_config(**kw):
    from rnnviz.experiments import deep

    c, notices = deep.DeepConfig.from_query({k: str(v) for k, v in kw.items()})
    assert not notices
    return c


def test_keras_bidirectional_output_is_the_final_state_of_each_direction(bidirectional_text):
    from rnnviz.experiments import deep

    model, data = bidirectional_text
    loaded = load_model_file("b.keras", data)
    assert (loaded.layers, loaded.directions, loaded.hidden_sizes) == (1, (2,), (5,))
    assert (loaded.bidirectional, loaded.returns_sequences, loaded.reads_final_states,
            loaded.framework) == (True, False, True, "keras")
    tokens, xs = token_inputs(loaded, 10)
    want = keras_out(model, 1, tokens)  # Embedding, Bidirectional: (B, 2H)
    got = deep.model_output(loaded, xs)
    assert got.shape == want.shape == (TEXT_B, 10)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # both halves read at T − 1 (the old reading) is another vector: its backward half
    hs = np.asarray(rnnviz.unroll(loaded.cell, loaded.params, xs)[0])
    assert np.abs(hs[-1][:, 5:] - want[:, 5:]).max() > 1e-2
    np.testing.assert_allclose(hs[0][:, 5:], want[:, 5:], atol=1e-5)  # backward after x_0
    # the whole model: Dense(1, sigmoid) on that vector
    kernel, bias = model.layers[2].get_weights()
    np.testing.assert_allclose(1 / (1 + np.exp(-(got @ kernel + bias))), keras_out(model, 2, tokens),
                               atol=1e-5)
    assert deep.model_read_sentence(loaded, "last") == (
        "The loss reads what Keras's Bidirectional layer outputs (return_sequences=False): the "
        "forward state after the last step and the backward state after x₀, the final state of "
        "each direction, through a readout of norm 1.")


def test_keras_bidirectional_loss_reads_the_backward_state_at_step_0(bidirectional_text):
    """The deep page's loss with "last" is vᵀ(Keras's output), ‖v‖ = 1; its gradient equals
    hidden_grads of that loss written out with indices, and the backward direction hears
    every step (the old reading: nothing before T − 1)."""
    import jax.numpy as jnp

    from rnnviz.experiments import deep

    model, data = bidirectional_text
    loaded = load_model_file("b.keras", data)
    c = deep.model_config(loaded, deep_config(T=TEXT_T, read="last"))
    xs = deep.model_inputs(loaded, c)
    r = deep.deep_flow(c, loaded.params, xs,
                       deep.model_read_mask(loaded, "last", c.T, xs.shape[0]))
    assert [p.label for p in r.profiles] == ["layer 1 →", "layer 1 ←"]
    assert r.read_steps == [0, TEXT_T - 1]
    np.testing.assert_allclose(r.depth_map, deep.model_flow(loaded, c).depth_map)

    def keras_reading(hs):  # [h_fwd at T − 1, h_bwd at 0], unit-norm readout
        out = jnp.concatenate([hs[TEXT_T - 1, :, :5], hs[0, :, 5:]], axis=-1)
        return jnp.sum(out) / jnp.sqrt(10.0)

    g = np.asarray(rnnviz.hidden_grads(loaded.cell, loaded.params, xs[:TEXT_T], keras_reading)["h"],
                   np.float64)
    want = np.sqrt(np.mean(np.sum(g**2, axis=-1), axis=-1))[0]  # (D, T)
    np.testing.assert_allclose(r.depth_map, want, rtol=1e-5)
    backward = r.depth_map[1]
    assert backward[0] == pytest.approx(np.sqrt(5 / 10))  # read there: ‖v's half‖ = √(H/2H)
    assert (backward[: TEXT_T - 1] > 1e-4).all()
    ys = np.asarray(rnnviz.unroll(loaded.cell, loaded.params, xs[:TEXT_T])[0])
    loss = deep.masked_readout_loss(ys, deep.model_read_mask(loaded, "last", c.T, c.T))
    out = deep.model_output(loaded, xs[:TEXT_T])
    assert float(loss) == pytest.approx(out.sum() / np.sqrt(10.0), rel=1e-5)


def test_keras_mixed_stack_loads_and_reproduces_keras(mixed_stack):
    """Embedding → Bidirectional(LSTM(5, return_sequences=True)) → LSTM(3) → Dense(1, sigmoid):
    layer 2's w_ih reads layer 1's [forward, backward] outputs, 10 numbers."""
    from rnnviz.engine.cells import Network
    from rnnviz.experiments import deep

    model, data = mixed_stack
    loaded = load_model_file("c.keras", data)
    assert (loaded.cell, loaded.layers, loaded.directions, loaded.hidden_sizes) == \
        ("lstm", 2, (2, 1), (5, 3))
    assert (loaded.bidirectional, loaded.hidden_size, loaded.input_size) == (True, 5, 4)
    assert (loaded.returns_sequences, loaded.reads_final_states, loaded.is_uniform) == \
        (False, False, False)
    assert loaded.source == ("Keras Sequential: Embedding(30→4) → Bidirectional(LSTM(5)) → "
                             "LSTM(3) → Dense(1)")
    assert loaded.params.layers[1][0].w_ih.shape == (12, 10)
    tokens, xs = token_inputs(loaded, 11)
    below = np.asarray(rnnviz.unroll(loaded.cell, Network(loaded.params.layers[:1]), xs)[0])
    np.testing.assert_allclose(below.transpose(1, 0, 2), keras_out(model, 1, tokens), atol=1e-5)
    got = deep.model_output(loaded, xs)  # LSTM(3): its state after the last step
    np.testing.assert_allclose(got, keras_out(model, 2, tokens), atol=1e-5)
    kernel, bias = model.layers[3].get_weights()
    np.testing.assert_allclose(1 / (1 + np.exp(-(got @ kernel + bias))), keras_out(model, 3, tokens),
                               atol=1e-5)
    assert deep.model_read_sentence(loaded, "last") == (
        "The loss reads the top layer's state at the last step through a readout of norm 1.")


def test_keras_bidirectional_gru_sequences_reproduce_keras(folder):
    """return_sequences=True: every step's pair, as PyTorch's output; "last" reads the pair
    at T − 1, so the top backward direction hears that step alone (REFERENCES.md)."""
    from rnnviz.experiments import deep

    model = fx.bidirectional_gru_sequences_model(T=TEXT_T, input_size=3, hidden=4)
    loaded = load_model_file("g.keras", fx.keras_bytes(model, folder))
    assert (loaded.cell, loaded.directions, loaded.hidden_sizes) == ("gru", (2,), (4,))
    assert (loaded.returns_sequences, loaded.reads_final_states) == (True, False)
    x = np.random.default_rng(12).normal(size=(TEXT_B, TEXT_T, 3)).astype(np.float32)
    got = deep.model_output(loaded, x.transpose(1, 0, 2))
    np.testing.assert_allclose(got.transpose(1, 0, 2), keras_out(model, 0, x), atol=1e-5)
    c = deep_config(T=TEXT_T, read="last")
    mask = deep.model_read_mask(loaded, "last", TEXT_T, 8)
    np.testing.assert_array_equal(mask, deep.read_mask("last", TEXT_T, 8))
    backward = deep.model_flow(loaded, c).depth_map[1]
    assert backward[-1] > 0 and (backward[:-1] == 0).all()
    assert "as Keras's Bidirectional outputs it with return_sequences=True" in \
        deep.model_read_sentence(loaded, "last")


# --- torch state_dicts -----------------------------------------------------------------


@pytest.mark.parametrize("ext, save", [(".safetensors", fx.safetensors_bytes),
                                       (".npz", fx.npz_bytes)])
def test_torch_bidirectional_two_layer_lstm_matches_reference(ext, save):
    sd = fx.torch_state_dict("lstm", layers=2, bidirectional=True, input_size=3, hidden_size=5)
    loaded = load_model_file("model" + ext, save(sd))
    assert (loaded.cell, loaded.layers, loaded.bidirectional) == ("lstm", 2, True)
    assert (loaded.hidden_size, loaded.input_size, loaded.embedding) == (5, 3, None)
    assert (loaded.directions, loaded.hidden_sizes, loaded.returns_sequences) == ((2, 2), (5, 5), True)
    assert loaded.framework == "pytorch" and loaded.is_uniform and not loaded.reads_final_states
    assert loaded.source == (f"PyTorch state_dict ({ext}): 2-layer bidirectional LSTM, H = 5, "
                             "I = 3, names under 'rnn'; also in the file, not used: fc.bias, "
                             "fc.weight")
    xs = np.random.default_rng(4).normal(size=(T, B, 3)).astype(np.float32)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, xs)
    np.testing.assert_allclose(hs, reference_stack("lstm", sd, xs, 2, 2), atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_torch_single_layer_without_prefix(cell):
    sd = fx.torch_state_dict(cell, layers=1, bidirectional=False, prefix="", head=False, seed=5)
    loaded = load_model_file("cell.npz", fx.npz_bytes(sd))
    assert (loaded.cell, loaded.layers, loaded.bidirectional) == (cell, 1, False)
    xs = np.random.default_rng(5).normal(size=(T, B, 3)).astype(np.float32)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, xs)
    np.testing.assert_allclose(hs, reference_stack(cell, sd, xs, 1, 1, prefix=""), atol=1e-5)
    assert ("tanh or relu cannot be told from the weights" in loaded.source) == (cell == "rnn")


def test_torch_without_biases_is_zero_bias():
    sd = fx.torch_state_dict("gru", layers=1, bidirectional=False, head=False, seed=6)
    no_bias = {n: a for n, a in sd.items() if ".bias_" not in n}
    loaded = load_model_file("nobias.safetensors", fx.safetensors_bytes(no_bias))
    zeros = {n: (np.zeros_like(a) if ".bias_" in n else a) for n, a in sd.items()}
    xs = np.random.default_rng(6).normal(size=(T, B, 3)).astype(np.float32)
    hs, _ = rnnviz.unroll(loaded.cell, loaded.params, xs)
    np.testing.assert_allclose(hs, reference_stack("gru", zeros, xs, 1, 1), atol=1e-5)


# --- bad files: a message that says what was expected ----------------------------------


def replace_member(data, member, content):
    """A copy of a zip with `member` replaced by `content` (None: left out)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != member:
                dst.writestr(info, src.read(info))
            elif content is not None:
                dst.writestr(info, content)
    return out.getvalue()


def bad(name, data, match):
    with pytest.raises(ValueError, match=match):
        load_model_file(name, data)


def test_wrong_extension():
    bad("model.pt", b"\x80\x04", r"'model.pt' is not a model file rnnviz reads: expected a "
        r"PyTorch state_dict saved as \.safetensors or \.npz, or a Keras 3 model saved as \.keras")
    bad("weights", b"", "is not a model file")


def test_file_over_the_size_limit():
    assert model_files.MAX_BYTES == 50 * 2**20
    bad("big.safetensors", bytes(model_files.MAX_BYTES + 1), r"is 50\.1 MB, over the 50 MB limit")


def test_corrupt_containers(seed):
    data = fx.safetensors_bytes(fx.torch_state_dict())
    bad("m.safetensors", data[:-10], r"not a readable \.safetensors file")
    bad("m.safetensors", b"garbage!" * 4, r"not a readable \.safetensors file")
    bad("m.npz", b"PK\x03\x04 not really", r"not a readable \.npz file: the zip archive is corrupt")
    bad("m.keras", seed[1][: len(seed[1]) // 2], r"not a readable \.keras file: the zip archive")
    bad("m.keras", replace_member(seed[1], "config.json", b"{not json"),
        r"config\.json is not JSON")
    bad("m.keras", replace_member(seed[1], "model.weights.h5", b"\x89HDF\r\n\x1a\n broken"),
        r"model\.weights\.h5 is corrupt")


def test_zips_that_unpack_past_the_bounds(seed):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:  # ~100 KB packed
        zf.writestr("weight_hh_l0.npy", bytes(model_files.MAX_UNZIPPED_BYTES + 1))
    bad("bomb.npz", out.getvalue(), r"the \.npz file unpacks to more than 100 MB")
    bad("m.keras", replace_member(seed[1], "config.json", b" " * model_files.MB + b"{}"),
        r"config\.json is over 1 MB")


def test_npz_never_unpickles():
    buf = io.BytesIO()
    np.savez(buf, **{"weight_hh_l0": np.array([{"code": 1}], dtype=object)})
    bad("evil.npz", buf.getvalue(),
        r"array of Python objects \(a pickle\), which rnnviz never loads")


def test_npz_header_that_claims_more_data_than_there_is():
    header = np.lib.format.header_data_from_array_1_0(np.zeros(4, np.float32))
    header["shape"] = (10**10,)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    member = buf.getvalue() + np.zeros(4, np.float32).tobytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("weight_hh_l0.npy", member)
    bad("huge.npz", out.getvalue(), "header claims more data than the file holds")


def test_missing_and_extra_names_in_a_state_dict():
    sd = fx.torch_state_dict()
    del sd["rnn.bias_hh_l1_reverse"]
    bad("m.safetensors", fx.safetensors_bytes(sd), r"missing rnn\.bias_hh_l1_reverse: a 2-layer "
        r"network has rnn\.weight_ih_l\{k\}, weight_hh_l\{k\}, bias_ih_l\{k\}, bias_hh_l\{k\} "
        r"for k = 0 to 1, each also with _reverse")
    sd = fx.torch_state_dict()
    del sd["rnn.weight_ih_l1"]
    bad("m.npz", fx.npz_bytes(sd), r"missing rnn\.weight_ih_l1")
    sd = fx.torch_state_dict()
    sd["rnn.weight_xx_l0"] = sd["rnn.weight_hh_l0"]
    bad("m.npz", fx.npz_bytes(sd), r"unexpected name rnn\.weight_xx_l0 in the recurrent module")
    sd = fx.torch_state_dict(head=False)
    sd["rnn.weight_hr_l0"] = np.zeros((5, 5), np.float32)
    bad("m.npz", fx.npz_bytes(sd), r"LSTM with proj_size, another model")
    bad("m.npz", fx.npz_bytes({"fc.weight": np.zeros((1, 4), np.float32)}),
        r"no recurrent weights found: expected torch names such as weight_ih_l0.*found fc\.weight")
    two = {**fx.torch_state_dict(prefix="enc.", head=False), **fx.torch_state_dict(prefix="dec.")}
    bad("m.npz", fx.npz_bytes(two), r"recurrent weights of several modules \('dec', 'enc'\)")


def test_shapes_that_do_not_fit_a_state_dict():
    sd = fx.torch_state_dict(hidden_size=5)
    sd["rnn.weight_ih_l1"] = sd["rnn.weight_ih_l1"][:, :5]  # reads only one direction
    bad("m.npz", fx.npz_bytes(sd), r"rnn\.weight_ih_l1 has shape \(20, 5\); expected \(20, 10\)"
        r".*it reads layer 0's outputs, D·H = 10")
    sd = fx.torch_state_dict(hidden_size=5)
    sd["rnn.weight_hh_l0"] = sd["rnn.weight_hh_l0"].T.copy()  # a transposed (H, 4H) kernel
    bad("m.npz", fx.npz_bytes(sd), r"rnn\.weight_hh_l0 has shape \(5, 20\); expected \(G·H, H\) "
        r"with G = 1 \(RNN\), 3 \(GRU\) or 4 \(LSTM\)")
    sd = fx.torch_state_dict(hidden_size=5)
    sd["rnn.bias_ih_l0"] = sd["rnn.bias_ih_l0"][:15]
    bad("m.npz", fx.npz_bytes(sd), r"rnn\.bias_ih_l0 has shape \(15\); expected \(20,\)")
    sd = fx.torch_state_dict(hidden_size=5)
    sd["rnn.weight_hh_l0_reverse"] = np.zeros((24, 6), np.float32)
    bad("m.npz", fx.npz_bytes(sd), r"rnn\.weight_hh_l0_reverse has shape \(24, 6\); expected "
        r"\(20, 5\)")


def test_mixed_cells_in_a_state_dict():
    sd = fx.torch_state_dict("lstm", layers=1, bidirectional=False, head=False)
    gru = fx.torch_state_dict("gru", layers=2, bidirectional=False, head=False)
    sd.update({n: a for n, a in gru.items() if "_l1" in n})
    bad("m.safetensors", fx.safetensors_bytes(sd), r"mixed cells in one stack: rnn\.weight_hh_l0 "
        r"is a LSTM, rnn\.weight_hh_l1 a GRU")


def test_nan_weights():
    sd = fx.torch_state_dict()
    sd["rnn.weight_hh_l0"][0, 0] = np.nan
    bad("m.safetensors", fx.safetensors_bytes(sd), r"rnn\.weight_hh_l0 holds NaN or infinite")
    sd = fx.torch_state_dict()
    sd["rnn.weight_hh_l0"] = sd["rnn.weight_hh_l0"].astype(np.int32)
    bad("m.safetensors", fx.safetensors_bytes(sd), r"has dtype int32; expected floating-point")


def test_server_bounds_on_layers_and_hidden_size():
    assert (model_files.MAX_LAYERS, model_files.MAX_HIDDEN) == (4, 512)
    deep = fx.torch_state_dict("gru", layers=5, bidirectional=False, hidden_size=2)
    bad("deep.npz", fx.npz_bytes(deep), r"has 5 recurrent layers; this server analyses at most 4")
    wide = fx.torch_state_dict("rnn", layers=1, bidirectional=False, hidden_size=513)
    bad("wide.npz", fx.npz_bytes(wide), r"H = 513; this server analyses at most H = 512")
    ok = fx.torch_state_dict("rnn", layers=4, bidirectional=False, hidden_size=512, input_size=1)
    assert load_model_file("ok.npz", fx.npz_bytes(ok)).layers == 4


def test_keras_gru_reset_before_is_another_model(folder):
    _, data = keras_file(folder, "gru_v1", keras.layers.GRU(4, reset_after=False))
    bad("v1.keras", data, r"GRU with reset_after=False, another model: it applies the reset gate "
        "before the matrix product")


def test_keras_mixed_cells(folder):
    L = keras.layers
    _, data = keras_file(folder, "mixed", L.Bidirectional(L.LSTM(8, return_sequences=True)),
                         L.Bidirectional(L.GRU(8, return_sequences=True)))
    bad("mixed.keras", data, r"mixed cells in one stack: Bidirectional\(LSTM\(8\)\) then "
        r"Bidirectional\(GRU\(8\)\)")


def test_keras_unsupported_layers(folder, seed):
    L = keras.layers
    _, data = keras_file(folder, "conv", L.Conv1D(4, 3), L.LSTM(4))
    bad("conv.keras", data, r"layer 'conv1d.*' is a Conv1D, another model: rnnviz reads "
        "Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dropout and Dense")
    for cls in ("MultiHeadAttention", "Attention"):
        def swap(cfg, cls=cls):
            fx.keras_layer_config(cfg, "SimpleRNN")["class_name"] = cls
        bad("attn.keras", fx.rewrite_keras(seed[1], config=swap), f"is a {cls}, another model")

    def functional(cfg):
        cfg["class_name"] = "Functional"
    bad("f.keras", fx.rewrite_keras(seed[1], config=functional),
        "holds a Functional; expected a keras.Sequential model")


def test_keras_layers_in_an_order_that_is_another_model(seed):
    def dense_first(cfg):  # Input, Embedding, Dense, SimpleRNN
        layers = cfg["config"]["layers"]
        layers[2], layers[3] = layers[3], layers[2]
    bad("d.keras", fx.rewrite_keras(seed[1], config=dense_first),
        "a Dense layer before the recurrent layers is another model")

    def no_rnn(cfg):
        cfg["config"]["layers"] = [s for s in cfg["config"]["layers"]
                                   if s["class_name"] in ("InputLayer", "Embedding")]
    bad("n.keras", fx.rewrite_keras(seed[1], config=no_rnn),
        "the Keras model has no recurrent layer")


def test_keras_missing_extra_and_misshapen_arrays(seed):
    data = seed[1]

    def drop(f):
        del f["layers/simple_rnn/cell/vars/2"]
    bad("m.keras", fx.rewrite_keras(data, weights=drop),
        r"model\.weights\.h5 has no layers/simple_rnn/cell/vars/2")

    def extra(f):
        f["layers/simple_rnn/cell/vars/3"] = np.zeros(6, np.float32)
    bad("m.keras", fx.rewrite_keras(data, weights=extra),
        r"model\.weights\.h5 holds layers/simple_rnn/cell/vars/3, which the model in "
        r"config\.json does not have")

    def wider(cfg):
        fx.keras_layer_config(cfg, "SimpleRNN")["config"]["units"] = 7
    bad("m.keras", fx.rewrite_keras(data, config=wider),
        r"layers/simple_rnn/cell/vars/0 in model\.weights\.h5 has shape \(4, 6\); expected "
        r"\(4, 7\)")

    bad("m.keras", replace_member(data, "model.weights.h5", None),
        r"the \.keras file has no model\.weights\.h5")


def test_keras_arrays_outside_the_file_are_refused(seed, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.ones(6, np.float32).tobytes())

    def external(f):
        del f["layers/simple_rnn/cell/vars/2"]
        f.create_dataset("layers/simple_rnn/cell/vars/2", shape=(6,), dtype="f4",
                         external=[(str(outside), 0, 24)])
    bad("m.keras", fx.rewrite_keras(seed[1], weights=external), "points outside the file")


def edit_layer(class_name, key, value, index=0):
    """A config.json edit: set `key` in the index-th layer of `class_name` (its inner layer
    for a Bidirectional wrapper when `key` is not the wrapper's own)."""
    def edit(cfg):
        spec = [s for s in cfg["config"]["layers"] if s["class_name"] == class_name][index]
        target = spec["config"]
        if class_name == "Bidirectional" and key != "merge_mode":
            target = target["layer"]["config"]
        target[key] = value
    return edit


@pytest.mark.parametrize("model, edit, match", [
    ("seed", edit_layer("SimpleRNN", "activation", "sigmoid"),
     r"SimpleRNN with activation 'sigmoid', another model; rnnviz's RNN uses tanh or relu"),
    ("seed", edit_layer("SimpleRNN", "go_backwards", True), r"reads the sequence backwards"),
    ("seed", edit_layer("SimpleRNN", "units", 513),
     r"H = 513; this server analyses at most H = 512"),
    ("bilstm", edit_layer("Bidirectional", "merge_mode", "sum"),
     r"merges its directions by 'sum'; expected merge_mode='concat'"),
    ("bilstm", edit_layer("Bidirectional", "recurrent_activation", "hard_sigmoid"),
     r"LSTM with activation 'tanh' and recurrent activation 'hard_sigmoid', another model"),
    ("bilstm", edit_layer("Bidirectional", "units", 9, index=1),
     r"layer 'bidirectional_\d+' has 9 units forward and 8 backward; expected the same number "
     r"of units in both directions"),
    ("bilstm", edit_layer("Bidirectional", "return_sequences", False),
     r"Bidirectional\(LSTM\(8\)\) feeds another recurrent layer but has return_sequences=False"),
])
def test_keras_configs_that_are_another_model(model, edit, match, seed, bilstm):
    data = {"seed": seed, "bilstm": bilstm}[model][1]
    bad("m.keras", fx.rewrite_keras(data, config=edit), match)


def test_keras_embedding_with_mask_zero_is_read_and_said(seed):
    loaded = load_model_file("m.keras", fx.rewrite_keras(
        seed[1], config=edit_layer("Embedding", "mask_zero", True)))
    assert loaded.embedding.shape == (50, 4)
    assert loaded.source.endswith("the Embedding has mask_zero=True: Keras skips steps with "
                                  "token id 0, rnnviz reads every step")


# --- the Dense head, read whole ----------------------------------------------------------


def test_keras_dense_head_is_read(seed, bilstm, mixed_stack):
    """Keras stores the kernel (F, O) for x·kernel; the head keeps w (O, F)."""
    model, data = seed
    head = load_model_file("s.keras", data).head
    kernel, bias = model.layers[2].get_weights()
    np.testing.assert_array_equal(head.w, kernel.T)
    np.testing.assert_array_equal(head.b, bias)
    assert (head.activation, head.every_step, head.w.dtype) == ("linear", False, np.float32)
    head = load_model_file("d.keras", bilstm[1]).head  # on every step's [forward, backward]
    assert (head.w.shape, head.activation, head.every_step) == ((1, 16), "linear", True)
    head = load_model_file("c.keras", mixed_stack[1]).head
    assert (head.w.shape, head.activation, head.every_step) == ((1, 3), "sigmoid", False)


def test_keras_dense_without_bias_and_models_without_a_head(folder, gru):
    L = keras.layers
    model, data = keras_file(folder, "nobias_head", L.GRU(4),
                             L.Dense(2, activation="softmax", use_bias=False), seed=7)
    head = load_model_file("n.keras", data).head
    np.testing.assert_array_equal(head.w, model.layers[1].get_weights()[0].T)
    np.testing.assert_array_equal(head.b, np.zeros(2, np.float32))
    assert head.activation == "softmax" and head.b.dtype == np.float32
    assert load_model_file("g.keras", gru[1]).head is None  # recurrent layers only
    # a state_dict's head is code (how it reads the module is unknown): never read
    assert load_model_file("t.npz", fx.npz_bytes(fx.torch_state_dict())).head is None


def test_keras_heads_rnnviz_does_not_read(seed):
    import copy

    data = seed[1]
    reads = (r"rnnviz reads a Dense head with activation 'sigmoid', 'softmax' or none "
             r"\('linear', logits\)")
    # Read without its head, the recurrent layers kept (the other pages show them), and a
    # note in the model's description that says why the head is not read.
    def unread(name, edited, note):
        model = load_model_file(name, edited)
        assert model.head is None and model.layers == 1
        assert re.search(note, model.source), model.source

    unread("r.keras", fx.rewrite_keras(data, config=edit_layer("Dense", "activation", "relu")),
           r"layer 'dense[_0-9]*' Dense\(1, relu\) is not read: " + reads)
    custom = {"module": None, "class_name": "function", "config": "swish_of_mine",
              "registered_name": "swish_of_mine"}
    unread("c.keras", fx.rewrite_keras(data, config=edit_layer("Dense", "activation", custom)),
           r"Dense\(1, swish_of_mine\) is not read")

    def hidden_dense(cfg):  # a student's Dense(64, relu) → Dense(1)
        layers = cfg["config"]["layers"]
        hidden = copy.deepcopy(layers[-1])
        hidden["config"].update(name="hidden", units=64, activation="relu")
        layers.insert(len(layers) - 1, hidden)
    def hidden_weights(f):  # what model.save writes for the two Dense layers
        for name in ("vars/0", "vars/1"):
            del f["layers/dense/" + name]
        f["layers/dense/vars/0"] = np.zeros((6, 64), np.float32)
        f["layers/dense/vars/1"] = np.zeros(64, np.float32)
        f["layers/dense_1/vars/0"] = np.zeros((64, 1), np.float32)
        f["layers/dense_1/vars/1"] = np.zeros(1, np.float32)
    unread("h.keras", fx.rewrite_keras(data, config=hidden_dense, weights=hidden_weights),
           r"its 2 Dense layers \('hidden' Dense\(64, relu\) → 'dense[_0-9]*' Dense\(1, linear\)\) "
           r"are not read: rnnviz reads one Dense layer on the top recurrent layer, with "
           r"activation 'sigmoid', 'softmax' or none")
    bad("u.keras", fx.rewrite_keras(data, config=edit_layer("Dense", "units", 100_001)),
        r"Dense\(100001, linear\) has 100001 outputs on 6 features; this server reads at most "
        r"100000 outputs and 50 MB of Dense weights")

    def wider(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((7, 1), np.float32)
    bad("w.keras", fx.rewrite_keras(data, weights=wider),
        r"layers/dense/vars/0 in model\.weights\.h5 has shape \(7, 1\); expected \(6, 1\) for the "
        r"model in config\.json: \(features it reads, outputs\), and the Dense reads the top "
        r"recurrent layer's 6 outputs")

    def vectorizer(cfg):
        cfg["config"]["layers"].insert(1, {"class_name": "TextVectorization",
                                           "config": {"name": "text_vectorization"}})
    bad("t.keras", fx.rewrite_keras(data, config=vectorizer),
        r"layer 'text_vectorization' is a TextVectorization: rnnviz reads the model from its "
        r"Embedding on, and the words from a vocabulary file")
