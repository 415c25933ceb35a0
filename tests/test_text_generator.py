"""The text generator (rnnviz/engine/chars.py) and its page: stateful training is truncated
BPTT with the state carried across steps, sampling, what the next character hears, and the
page's sentences against the arrays."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnnviz.engine import chars
from rnnviz.engine.cells import STEPS, init_carry
from rnnviz.experiments import text_lab
from tests.test_app import open_page as open_app_page

TEXT = chars.encode(chars.shipped_text())[0]


def small(cell="gru", **kw):
    return chars.CharConfig(cell=cell, k=8, **kw)


def run_states(cell, params, ids, carry):
    """A Python loop of the cell over ids (B, T) from carry: the states (T, B, H) and the
    final carry."""
    hs = []
    for t in range(ids.shape[1]):
        carry, _ = STEPS[cell](params.cell, carry, params.embedding[ids[:, t]])
        hs.append(carry[0])
    return jnp.stack(hs), carry


def streams(n_chars, k, step):
    """The positions (STREAMS, k) that optimiser step `step` reads (one pass, no wrap)."""
    span = n_chars // chars.STREAMS
    return (np.arange(chars.STREAMS) * span)[:, None] + step * k + np.arange(k)[None, :]


def test_a_stateful_step_carries_the_state_and_cuts_the_gradient_at_the_chunk():
    """Two steps of the program against a reference: the carry after them is the state
    after reading 2k characters of every stream from zero (the forward pass is never cut),
    and each step's gradient is that of its own chunk's loss with the carried state as a
    constant (checked on step 2, whose carry comes from step 1)."""
    c = small()  # the loss and gradient of two consecutive steps, at the same weights
    s, text = chars.setting(c, len(TEXT)), chars.padded_text(TEXT)
    state = chars.initial_state(c)
    params = jax.tree.map(jnp.asarray, state.params)
    ids = TEXT[np.concatenate([streams(len(TEXT), c.k, 0), streams(len(TEXT), c.k, 1)], 1)]
    zero = init_carry("gru", jnp.zeros((chars.STREAMS, chars.HIDDEN)))
    _, want_carry = run_states("gru", params, jnp.asarray(ids), zero)
    fn = functools.partial(chars._loss_and_grad, "gru", s, jnp.asarray(text))
    _, _, carry1 = fn(params, None, zero, jnp.int32(0))
    loss2, grads2, carry2 = fn(params, None, carry1, jnp.int32(1))
    np.testing.assert_allclose(np.asarray(carry2[0]), np.asarray(want_carry[0]), rtol=1e-5,
                               atol=1e-6)

    chunk, targets = TEXT[streams(len(TEXT), c.k, 1)], TEXT[streams(len(TEXT), c.k, 1) + 1]
    start = jax.lax.stop_gradient(carry1)

    def reference(params):
        hs, _ = run_states("gru", params, jnp.asarray(chunk), start)
        logits = hs @ params.readout.w.T + params.readout.b
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, targets.T))

    want_loss, want_grads = jax.value_and_grad(reference)(params)
    assert float(loss2) == pytest.approx(float(want_loss), rel=1e-5)
    for got, want in zip(jax.tree.leaves(grads2), jax.tree.leaves(want_grads)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=1e-7)


def test_the_state_starts_from_zero_at_each_new_pass():
    c = small()
    s = chars.setting(c, len(TEXT))
    passes = (len(TEXT) // chars.STREAMS - 1) // c.k
    for step, fresh in ((0, True), (1, False), (passes - 1, False), (passes, True)):
        start, is_fresh = chars._chunk_start(s, jnp.int32(step))
        assert bool(is_fresh) == fresh and int(start) == (step % passes) * c.k


@functools.lru_cache(maxsize=None)
def trained(cell="lstm", steps=300):
    return list(chars.train(chars.CharConfig(cell=cell, steps=steps), TEXT, "\n", 0.8))


def test_the_lstm_text_generator_learns_below_the_unigram_loss():
    snaps = trained()
    losses = np.concatenate([s.losses for s in snaps])
    assert np.mean(losses[-50:]) < chars.unigram_loss(TEXT) - 0.8
    assert set(snaps[-1].sample) <= set(chars.VOCABULARY) and len(snaps[-1].sample) == 240


def test_sampling_at_a_tiny_temperature_is_the_greedy_continuation():
    c = chars.CharConfig(cell="lstm")
    state = trained()[-1].state
    got = chars.sample(c, state, len(TEXT), "First Citizen:\n", 1e-4, seed=3)
    params = jax.tree.map(jnp.asarray, state.params)
    carry = init_carry("lstm", jnp.zeros((1, chars.HIDDEN)))
    _, carry = run_states("lstm", params, jnp.asarray(chars.encode("First Citizen:\n")[0])[None],
                          carry)
    want = []
    for _ in range(20):
        y = int(jnp.argmax(carry[0][0] @ params.readout.w.T + params.readout.b))
        want.append(chars.VOCABULARY[y])
        carry, _ = STEPS["lstm"](params.cell, carry, params.embedding[jnp.asarray([y])])
    assert got[:20] == "".join(want)


def test_what_the_next_character_hears_is_the_gradient_of_its_own_loss():
    state = trained()[-1].state
    read = chars.encode(text_lab.DEFAULT_READ)[0]
    position = 30
    ex = text_lab.explain_next("lstm", state, read, position)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state.params)

    def loss(embedded):  # (position + 1, E) embeddings of the characters read
        carry = init_carry("lstm", jnp.zeros((1, chars.HIDDEN), jnp.float64))
        for e in embedded:
            carry, _ = STEPS["lstm"](params.cell, carry, e[None])
        logits = carry[0][0] @ params.readout.w.T + params.readout.b
        return -jax.nn.log_softmax(logits)[read[position + 1]]

    g = jax.grad(loss)(params.embedding[read[:position + 1]])
    np.testing.assert_allclose(ex.grad_norms[:position + 1], np.linalg.norm(g, axis=-1),
                               rtol=2e-3, atol=1e-12)
    assert ex.p_target == pytest.approx(float(np.exp(-loss(params.embedding[read[:position + 1]]))),
                                        rel=1e-3)


def test_the_reach_sentence_reads_the_gradients():
    values = np.array([1e-9, 2e-3, 0.5, 1.0, 0.7])
    assert text_lab.reach(values, 4) == 3  # 2e-3 ≥ 1e-3 of 1.0, three characters back
    ex = type("E", (), {"grad_norms": values, "p_target": 0.25})()
    text = text_lab.reach_sentence({"LSTM": ex}, 4, 2)
    assert "up to 3 back" in text and "p(next) = 0.25" in text and "further back than" in text
    assert text_lab.reach(np.full(5, np.nan), 4) is None


def test_text_out_of_the_vocabulary_is_named_and_short_texts_are_refused():
    ids, notices = chars.encode("naïve café\r\nok\t!")
    assert chars.decode(ids) == "nave caf\nok !" and "é ï" in notices[0]
    with pytest.raises(ValueError, match="at least"):
        next(chars.train(chars.CharConfig(k=32), ids))
    ids, notices = chars.encode("a" * 30, limit=10)
    assert len(ids) == 10 and "first 10" in notices[0]


def test_the_learning_sentence_states_each_runs_last_losses():
    snaps = trained()
    text = text_lab.learning_sentence({"LSTM": snaps}, chars.unigram_loss(TEXT))
    losses = np.concatenate([s.losses for s in snaps])
    assert f"loss {np.mean(losses[-50:]):.2f} nats after 300 steps" in text
    assert f"{chars.unigram_loss(TEXT):.2f} nats" in text


# --- The page -------------------------------------------------------------------------------

PAGE = "pages/12_Text_generator.py"


def open_page(query=None):
    return open_app_page(PAGE, query)


def test_the_page_trains_both_cells_samples_and_colours_the_characters():
    at = open_page({"steps": "50", "k": "16", "position": "20"})
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["tx_run"]["status"] == "done"
    assert len(at.get("plotly_chart")) == 2  # the loss curves, the coloured characters
    infos = " ".join(i.value for i in at.info)
    assert "RNN: loss" in infos and "LSTM hears characters up to" in infos and "k = 16" in infos
    at.slider(key="tx_position").set_value(35).run()
    assert not at.exception and at.query_params["position"] in ("35", ["35"])
    at.button(key="tx_use_lstm").click().run()  # the LSTM's sample is read below
    assert not at.exception
    assert at.text_area(key="tx_read").value == at.get("code")[1].value[:128]
    at.text_area(key="tx_read").set_value("ab").run()
    assert not at.exception and any("at least three" in i.value for i in at.info)


def test_a_pasted_text_too_short_disables_train_and_says_how_much_is_needed():
    at = open_page({"source": "pasted", "k": "8"})
    assert not at.exception
    at.text_area(key="tx_pasted").set_value("<b>too short</b> ünïcode").run()
    assert not at.exception
    assert at.button[0].disabled
    assert any(f"at least {chars.min_text_length(8)}" in i.value for i in at.info)
    assert any("left out" in w.value for w in at.warning)


def test_a_bad_url_gives_notices_and_safe_values():
    at = open_page({"k": "999", "temperature": "hot", "source": "web", "position": "-3"})
    assert not at.exception and len(at.warning) == 4
    assert at.slider(key="tx_k").value == chars.K_MAX
