"""Words in: `explain` (which words a prediction still hears) against gradients taken
separately per word, finite differences and Keras's own layers; vocabulary files and typed
text, bad input included."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.fixtures import model_files as fx

keras = fx.keras()  # KERAS_BACKEND=jax before the import

from rnnviz.engine import programs  # noqa: E402
from rnnviz.engine.cells import GATE_BLOCKS, CellParams, Network, as_network  # noqa: E402
from rnnviz.experiments import words  # noqa: E402
from rnnviz.experiments.model_files import Head, LoadedModel, load_model_file  # noqa: E402

# Keras's own variables trip numpy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

V, E = 20, 4


def random_model(cell, directions, hidden, outputs=1, activation="sigmoid", every_step=False,
                 seed=0, dtype=np.float64, scale=0.6):
    """A LoadedModel that reads words, random weights: one CellParams for one one-way layer,
    else a Network (mixed ones too), an Embedding (V, E) and a Dense head."""
    rng = np.random.default_rng(seed)
    G, width, layers = GATE_BLOCKS[cell], E, []
    for D, H in zip(directions, hidden):
        layers.append(tuple(
            CellParams(*(rng.normal(0.0, scale, shape).astype(dtype)
                         for shape in ((G * H, width), (G * H, H), (G * H,), (G * H,))))
            for _ in range(D)))
        width = D * H
    net = Network(tuple(layers))
    params = net.layers[0][0] if directions == (1,) else net
    head = Head(rng.normal(0.0, 0.6, (outputs, width)).astype(dtype),
                rng.normal(0.0, 0.1, outputs).astype(dtype), activation, every_step)
    return LoadedModel(cell, len(directions), 2 in directions, hidden[0], E, params,
                       rng.normal(0.0, 1.0, (V, E)).astype(dtype), "test",
                       returns_sequences=every_step, directions=tuple(directions),
                       hidden_sizes=tuple(hidden), framework="keras", head=head)


# --- an independent reference: the cells written out, one step at a time ----------------


def sigmoid(a):
    return 1.0 / (1.0 + jnp.exp(-a))


def ref_step(cell, p, h, c, x):
    """One step of REFERENCES.md's cells for one sentence (no batch axis)."""
    a, r = p.w_ih @ x + p.b_ih, p.w_hh @ h + p.b_hh
    if cell == "rnn":
        return jnp.tanh(a + r), c
    if cell == "lstm":
        i, f, g, o = jnp.split(a + r, 4)
        c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
        return sigmoid(o) * jnp.tanh(c), c
    ar, az, an = jnp.split(a, 3)
    rr, rz, rn = jnp.split(r, 3)
    reset, z = sigmoid(ar + rr), sigmoid(az + rz)
    n = jnp.tanh(an + reset * rn)
    return (1.0 - z) * n + z * h, c


def ref_loss(model, xs, position, target, eps=None):
    """ℓ = −log p(target) by hand, xs (T, E) the sentence's embedding vectors; eps (D, T, H)
    perturbs the top layer's states (h_t + eps_t), for ∂ℓ/∂h_t."""
    net, head = as_network(model.params), model.head
    T, inputs, top = xs.shape[0], xs, len(net.layers) - 1
    for k, layer in enumerate(net.layers):
        outs = []
        for d, p in enumerate(layer):
            h = c = jnp.zeros(p.w_hh.shape[1], xs.dtype)
            hs = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):  # backward reads from the end
                h, c = ref_step(model.cell, p, h, c, inputs[t])
                if eps is not None and k == top:
                    h = h + eps[d][t]
                hs[t] = h
            outs.append(jnp.stack(hs))
        inputs = jnp.concatenate(outs, axis=-1)
    if head.every_step:
        f = inputs[position]
    elif len(outs) == 2:  # Keras: forward after the last word, backward after the first
        f = jnp.concatenate([outs[0][T - 1], outs[1][0]])
    else:
        f = inputs[T - 1]
    z = head.w @ f + head.b
    reading = words.head_reading(head)
    if reading == "softmax":
        p = jnp.exp(z - jnp.max(z))
        return -jnp.log(p[target] / jnp.sum(p))
    p = sigmoid(z)
    if reading == "binary":
        return -jnp.log(p[0] if target == 1 else 1.0 - p[0])
    return -jnp.log(p[target])


CASES = {
    "rnn": dict(cell="rnn", directions=(1,), hidden=(5,)),
    "lstm stacked, mixed": dict(cell="lstm", directions=(2, 1), hidden=(4, 3)),
    "gru bidirectional, final states": dict(cell="gru", directions=(2,), hidden=(4,),
                                            outputs=3, activation="linear"),
    "lstm bidirectional, every step": dict(cell="lstm", directions=(2,), hidden=(3,), outputs=5,
                                           activation="softmax", every_step=True),
    "gru every step, multi-label": dict(cell="gru", directions=(1,), hidden=(4,), outputs=3,
                                        activation="sigmoid", every_step=True),
}
IDS = np.array([3, 17, 0, 9, 12, 5, 11], np.int32)  # distinct ids: one word, one row


@pytest.mark.parametrize("case", CASES)
def test_explain_matches_separate_grads_per_word(case):
    model = random_model(**CASES[case], seed=len(case))
    every_step = model.head.every_step
    position = 3 if every_step else None
    ex = words.explain(model, IDS, position=position)
    T = len(IDS)
    pos = T - 1 if position is None else position
    assert (ex.position, ex.target, ex.ids.tolist()) == (pos, ex.predicted, IDS.tolist())
    xs = jnp.asarray(model.embedding[IDS])
    loss = ref_loss(model, xs, pos, ex.target)
    assert ex.loss == pytest.approx(float(loss), rel=1e-10)
    assert ex.p_target == pytest.approx(float(jnp.exp(-loss)), rel=1e-10)
    # ∂ℓ/∂e_s of every word from one jax.grad with respect to the whole sentence, and for a
    # few words from a jax.grad of their own, the other words held
    np.testing.assert_allclose(ex.grads, jax.grad(lambda x: ref_loss(model, x, pos, ex.target))(xs),
                               rtol=1e-9, atol=1e-14)
    for s in sorted({0, pos // 2, pos}):
        g = jax.grad(lambda e, s=s: ref_loss(model, xs.at[s].set(e), pos, ex.target))(xs[s])
        np.testing.assert_allclose(ex.grads[s], g, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(ex.grad_norms, np.linalg.norm(ex.grads, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(ex.grad_dot, np.sum(model.embedding[IDS] * ex.grads, axis=-1),
                               rtol=1e-12, atol=1e-300)
    net = as_network(model.params)
    D, H = net.directions[-1], net.hidden_sizes[-1]
    eps = jax.grad(lambda e: ref_loss(model, xs, pos, ex.target, e))(jnp.zeros((D, T, H)))
    np.testing.assert_allclose(ex.hidden_norms, np.sqrt(np.sum(np.asarray(eps) ** 2, axis=(0, 2))),
                               rtol=1e-9, atol=1e-14)
    if D == 1:  # a one-way model: the words after the position have no path to it
        assert (ex.grad_norms[pos + 1:] == 0).all() and (ex.hidden_norms[pos + 1:] == 0).all()
        assert (ex.grad_norms[: pos + 1] > 0).all()
    else:  # a bidirectional one hears the whole sentence
        assert (ex.grad_norms > 0).all()


@pytest.mark.parametrize("case", ["lstm stacked, mixed", "lstm bidirectional, every step"])
def test_explain_against_central_finite_differences(case):
    """∂ℓ/∂e_s by central differences of ℓ in float64, moving the embedding row of word s
    (every id appears once, so the row is that word's vector), the target held."""
    model = random_model(**CASES[case], seed=3)
    position = 4 if model.head.every_step else None
    ex = words.explain(model, IDS, target=1, position=position)
    h = 1e-6
    for s in (0, 2, 4, 6):
        for j in range(E):
            def loss(step):
                emb = model.embedding.copy()
                emb[IDS[s], j] += step
                return words.explain(model._replace(embedding=emb), IDS, 1, position).loss
            fd = (loss(h) - loss(-h)) / (2 * h)
            assert ex.grads[s, j] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    # gradient × input is the derivative along the word's own vector: ℓ((1 + α) e_s)
    for s in (1, 5):
        def scaled(alpha):
            emb = model.embedding.copy()
            emb[IDS[s]] *= 1.0 + alpha
            return words.explain(model._replace(embedding=emb), IDS, 1, position).loss
        assert ex.grad_dot[s] == pytest.approx((scaled(h) - scaled(-h)) / (2 * h),
                                               rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("case", ["gru bidirectional, final states", "lstm stacked, mixed",
                                  "lstm bidirectional, every step"])
def test_padding_changes_nothing(case):
    """The app's float32 path: a sentence padded further gives the same numbers."""
    model = random_model(**CASES[case], seed=5, dtype=np.float32)
    position = 2 if model.head.every_step else None
    short = words.explain(model, IDS, position=position)  # in its bucket, 32 steps
    long = words.explain(model, IDS, position=position, padded=words.MAX_WORDS)  # 4× further
    for name in ("probs", "grads", "grad_norms", "grad_dot", "hidden_norms"):
        np.testing.assert_allclose(getattr(long, name), getattr(short, name), rtol=2e-6,
                                   atol=1e-30, err_msg=name)
    assert (long.target, long.loss) == (short.target, pytest.approx(short.loss, rel=2e-6))


def test_a_new_sentence_length_position_or_target_does_not_compile_again():
    model = random_model(**CASES["lstm bidirectional, every step"], seed=6, dtype=np.float32)
    words.explain(model, IDS[:3])
    before = programs.stats()["compiles"]
    for T in (1, 5, len(IDS)):
        for position in {0, T - 1}:
            words.explain(model, IDS[:T], target=T % 5, position=position)
    tokens = words.ids_from_numbers("1 2 3 4 5 6 7 8 9 10 11 12", V)
    words.explain(model, tokens.ids)
    assert programs.stats()["compiles"] == before
    assert words.word_bucket(12) == words.word_bucket(1) == 32
    assert words.word_bucket(33) == words.MAX_WORDS


def test_the_predicted_class_is_explained_unless_a_target_is_given():
    model = random_model(**CASES["rnn"], seed=7)
    ex = words.explain(model, IDS)
    assert ex.reading == "binary" and ex.probs.shape == (1,)
    assert ex.predicted == int(ex.probs[0] > 0.5) == ex.target
    other = words.explain(model, IDS, target=1 - ex.target)
    assert other.target == 1 - ex.target and other.predicted == ex.predicted
    assert other.p_target == pytest.approx(1 - ex.p_target)
    assert other.loss > ex.loss  # the class not predicted is the less likely one
    soft = random_model(**CASES["lstm bidirectional, every step"], seed=7)
    ex = words.explain(soft, IDS, position=0)
    assert ex.reading == "softmax" and ex.probs.sum() == pytest.approx(1.0)
    assert ex.target == ex.predicted == int(np.argmax(ex.probs))


def test_readings_of_a_head():
    def head(outputs, activation):
        return Head(np.zeros((outputs, 3)), np.zeros(outputs), activation, False)
    assert [words.head_reading(head(1, a)) for a in ("sigmoid", "linear", "softmax")] == \
        ["binary", "binary", "softmax"]
    assert [words.head_reading(head(4, a)) for a in ("sigmoid", "linear", "softmax")] == \
        ["independent", "softmax", "softmax"]
    assert words.classes(head(1, "sigmoid")) == 2 and words.classes(head(4, "linear")) == 4


# --- what explain refuses ----------------------------------------------------------------


def test_explain_refuses_what_it_cannot_read():
    model = random_model(**CASES["rnn"], seed=8)
    seq = random_model(**CASES["lstm bidirectional, every step"], seed=8)
    cases = [
        (model._replace(embedding=None), IDS, {}, "first layer is an Embedding"),
        (model._replace(head=None), IDS, {}, "explain needs the model's Dense head"),
        (model, [], {}, "no words to explain"),
        (model, np.zeros((2, 3), np.int32), {}, "one sentence, a 1-D sequence"),
        (model, [1.5, 2.0], {}, "whole numbers"),
        (model, [3, V], {}, f"token id {V} is outside the Embedding's ids 0 to {V - 1}"),
        (model, [-1], {}, "token id -1 is outside"),
        (model, np.ones(words.MAX_WORDS + 1, np.int32), {}, "explain reads at most 128"),
        (model, IDS, {"position": 2}, r"predicts once, after the last word .*return_sequences"
                                      r"=False\): position 6, not 2"),
        (model, IDS, {"target": 2}, "target 2 is not one of the head's classes 0 to 1"),
        (seq, IDS, {"position": 7}, "position 7 is outside the sentence: its words are at 0 to 6"),
        (seq, IDS, {"position": -1}, "position -1 is outside"),
        (seq, IDS, {"target": 5}, "classes 0 to 4"),
        (model._replace(head=model.head._replace(w=np.zeros((1, 7)))), IDS, {},
         r"expected w \(O, 5\)"),
        (model._replace(head=model.head._replace(activation="relu")), IDS, {},
         "activation is 'relu'"),
    ]
    for m, ids, kw, match in cases:
        with pytest.raises(ValueError, match=match):
            words.explain(m, ids, **kw)


# --- Keras 3 parity: .keras files written by Keras, gradients through Keras's layers ------

KT = 9  # words per sentence in the Keras models


def keras_model(name, *layers, vocab=V, seed=0):
    L = keras.layers
    model = keras.Sequential([keras.Input((KT,), dtype="int32"), L.Embedding(vocab, E), *layers],
                             name=name)
    return fx.randomize(model, seed)


def keras_gradients(model, ids, position, target, reading):
    """∂ℓ/∂e_s through Keras's own recurrent and Dense layers (JAX backend), ℓ from the
    model's own output: −log of its probability of `target` (softmax of its logits for a
    linear head with several outputs)."""
    vectors = model.layers[0].get_weights()[0][ids][None]  # (1, T, E)

    def loss(x):
        for layer in model.layers[1:]:
            x = layer(x)
        out = x[0, position] if x.ndim == 3 else x[0]
        if reading == "binary":
            return -jnp.log(out[0] if target == 1 else 1.0 - out[0])
        if reading == "softmax" and model.layers[-1].get_config()["activation"] == "linear":
            return -jax.nn.log_softmax(out)[target]
        return -jnp.log(out[target])

    return np.asarray(jax.grad(loss)(jnp.asarray(vectors, jnp.float32)), np.float64)[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("words")


KERAS_CASES = {
    "sentiment": lambda L: (L.SimpleRNN(6), L.Dense(1, activation="sigmoid")),
    "next word": lambda L: (L.LSTM(5, return_sequences=True), L.Dense(V, activation="softmax")),
    "bidirectional gru": lambda L: (L.Bidirectional(L.GRU(4)), L.Dense(3)),
}


@pytest.mark.parametrize("case", KERAS_CASES)
def test_keras_file_explained_as_keras_computes_it(case, folder):
    model = keras_model(case.replace(" ", "_"), *KERAS_CASES[case](keras.layers), seed=11)
    loaded = load_model_file("m.keras", fx.keras_bytes(model, folder))
    ids = np.random.default_rng(12).integers(2, V, KT).astype(np.int32)
    every_step = case == "next word"
    assert loaded.head.every_step == every_step
    position = 4 if every_step else None
    ex = words.explain(loaded, ids, position=position)
    pos = KT - 1 if position is None else position
    predicted = np.asarray(model.predict(ids[None], verbose=0), np.float64)[0]
    out = predicted[pos] if every_step else predicted
    if case == "bidirectional gru":  # Dense(3), no activation: logits, read by a softmax
        assert ex.reading == "softmax"
        out = np.exp(out - out.max()) / np.exp(out - out.max()).sum()
    np.testing.assert_allclose(ex.probs, out, rtol=1e-5, atol=1e-7)
    for target in (ex.target, (ex.target + 1) % words.classes(loaded.head)):
        ex = words.explain(loaded, ids, target=target, position=position)
        want = keras_gradients(model, ids, pos, target, ex.reading)
        scale = np.abs(want).max()
        np.testing.assert_allclose(ex.grads, want, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(ex.grad_norms, np.linalg.norm(want, axis=-1), rtol=1e-5,
                                   atol=1e-6 * scale)
    if every_step:  # one way: the words after the position are not heard at all
        assert (ex.grad_norms[pos + 1:] == 0).all() and (ex.grad_norms[: pos + 1] > 0).all()


# --- vocabulary files and typed text ---------------------------------------------------------

VOCABULARY = ["", "[UNK]", "the", "keys", "to", "cabinet", "are", "dont"]


def test_vocabulary_file_as_get_vocabulary_writes_it():
    data = "\n".join(VOCABULARY).encode()
    assert words.read_vocabulary(data, 8) == VOCABULARY
    assert words.read_vocabulary(data + b"\n", 20) == VOCABULARY  # a final newline; fewer lines
    assert words.read_vocabulary(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"), 8) == VOCABULARY
    assert words.read_vocabulary("\n[UNK]\nétoile\n😀".encode(), 4)[2:] == ["étoile", "😀"]


@pytest.mark.parametrize("data, rows, match", [
    ("\n".join(VOCABULARY).encode(), 7, r"the vocabulary has 8 lines, more than the 7 rows of "
                                        r"the model's Embedding \(ids 0 to 6\)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 100, "not UTF-8 text; expected one token per line"),
    (b"\x00\x01\x02abc\n", 100, r"control characters \(is it a binary file\?\)"),
    (b"", 100, "holds no tokens"),
    (b"\n\n", 100, "holds no tokens"),
    (b"a\n" * (words.MAX_VOCABULARY_BYTES // 2 + 1), 10**7, r"is 2\.1 MB, over the 2 MB limit"),
    (b"\n" * (words.MAX_VOCABULARY_LINES + 1), 10**7, "more than 200000 lines"),
])
def test_vocabulary_files_that_do_not_fit(data, rows, match):
    with pytest.raises(ValueError, match=match):
        words.read_vocabulary(data, rows)


def test_text_standardised_as_text_vectorization_does():
    assert words.standardize("The KEYS, to the (old) cabinet... are!") == \
        ["the", "keys", "to", "the", "old", "cabinet", "are"]
    assert words.standardize("Don't\tstop\n") == ["dont", "stop"]
    assert words.standardize("ÉTOILE <b>x</b> 😀") == ["Étoile", "bxb", "😀"]  # ASCII only


def test_ids_of_a_typed_sentence():
    t = words.ids_of("The keys to the OLD cabinet are, aren't they?", VOCABULARY)
    assert t.words == ["the", "keys", "to", "the", "old", "cabinet", "are", "arent", "they"]
    assert t.ids.tolist() == [2, 3, 4, 2, 1, 5, 6, 1, 1] and t.ids.dtype == np.int32
    assert t.unknown == ["old", "arent", "they"]
    assert t.notices == ["3 words are not in the vocabulary, read as '[UNK]' (id 1): 'old', "
                         "'arent', 'they'."]
    # without "[UNK]" in the vocabulary an unknown word reads as id 1, as TextVectorization's
    t = words.ids_of("keys cabinets", ["", "<unk>", "keys"])
    assert t.ids.tolist() == [2, 1] and "read as '<unk>' (id 1)" in t.notices[0]
    assert words.ids_of("keys x", ["", "oov", "keys"]).ids.tolist() == [2, 1]


@pytest.mark.parametrize("text", ["", "   ", "?!...", None])
def test_empty_text_reads_as_no_words(text):
    t = words.ids_of(text, VOCABULARY)
    assert t.ids.shape == (0,) and t.ids.dtype == np.int32 and t.words == []
    assert t.notices == ["There are no words to read: type a sentence."]


def test_long_text_is_cut_with_a_notice():
    t = words.ids_of("keys " * 2000, VOCABULARY)  # 10 000 characters
    assert len(t.ids) == words.MAX_WORDS
    assert t.notices == ["The text is cut to its first 2000 characters (it had 10000).",
                         "The sentence is cut to its first 128 words (it had 400)."]
    t = words.ids_of("<script>alert(1)</script> " + "x" * 40, VOCABULARY)
    assert t.words[0] == "scriptalert1script" and t.ids.tolist() == [1, 1]
    assert "'" + "x" * 30 + "…'" in t.notices[0]


def test_ids_typed_as_numbers():
    t = words.ids_from_numbers("3, 5 x 19 20 -1 1e3 ٣ 007 99999999999999999999", V)
    assert t.ids.tolist() == [3, 5, 19, 7] and t.words == ["3", "5", "19", "7"]
    assert t.unknown == ["x", "1e3", "٣", "99999999999999999999", "20", "-1"]
    assert t.notices == [
        "Left out, not whole numbers: 'x', '1e3', '٣', '99999999999999999999'.",
        "Left out, outside the Embedding's ids 0 to 19: '20', '-1'."]
    t = words.ids_from_numbers("", V)
    assert t.ids.shape == (0,) and t.notices == [
        "There are no token ids to read: type whole numbers from 0 to 19, separated by spaces."]
    t = words.ids_from_numbers("1 " * 200, V)
    assert len(t.ids) == words.MAX_WORDS and "cut to its first 128 words" in t.notices[0]


def test_typed_words_explained_end_to_end():
    """A vocabulary file, a typed sentence with an unknown word, and its explanation."""
    model = random_model(**CASES["rnn"], seed=9, dtype=np.float32)
    vocabulary = words.read_vocabulary("\n".join(VOCABULARY).encode(), V)
    t = words.ids_of("The keys to the cabinet are", vocabulary)
    ex = words.explain(model, t.ids)
    assert ex.grad_norms.shape == ex.grad_dot.shape == ex.hidden_norms.shape == (6,)
    assert np.isfinite(ex.grad_norms).all() and ex.grad_norms[-1] > 0
