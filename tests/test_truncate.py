"""Truncated backpropagation through time (`hidden_grads(..., truncate=k)`, the trainer's k).

The reference is a plain Python loop of the cell's step that detaches the carry before every
step t with t % k == 0 (t > 0), as PyTorch users write ``h = h.detach()`` between chunks,
differentiated by jax.grad: no scan, no select.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnviz
from rnnviz.engine import bptt, train
from rnnviz.engine.tasks import TASKS
from rnnviz.experiments import claims
from rnnviz.engine.cells import STEPS, init_carry

T, B, I, H = 9, 2, 3, 4


def params_of(cell, seed=0):
    return rnnviz.init_params(jax.random.PRNGKey(seed), cell, I, H, gain=1.5)


@functools.lru_cache(maxsize=None)
def readout(placement):
    return functools.partial(rnnviz.readout_loss, length=T, placement=placement)


def reference_grads(cell, params, xs, placement, k):
    """∂L/∂h_t (and ∂L/∂c_t) by a Python loop that detaches the carry every k steps."""
    def loss(eps):
        carry, hs = init_carry(cell, jnp.zeros((B, H))), []
        for t in range(T):
            if k is not None and t > 0 and t % k == 0:
                carry = tuple(jax.lax.stop_gradient(a) for a in carry)
            # The cell adds the zero perturbation to its new state (c before h = o·tanh(c)).
            carry, _ = STEPS[cell](params, carry, xs[t], tuple(e[t] for e in eps))
            hs.append(carry[0])
        return rnnviz.readout_loss(jnp.stack(hs), T, placement)

    parts = 2 if cell == "lstm" else 1
    g = jax.grad(loss)(tuple(jnp.zeros((T, B, H)) for _ in range(parts)))
    return dict(zip(("h", "c"), (np.asarray(a) for a in g)))


@pytest.mark.parametrize("placement", ["last", "all"])
@pytest.mark.parametrize("cell", rnnviz.CELLS)
def test_truncated_gradients_equal_a_loop_that_detaches_every_k_steps(cell, placement):
    params = params_of(cell)
    xs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (T, B, I)))
    for k in (1, 2, 4):
        got = rnnviz.hidden_grads(cell, params, xs, readout(placement), truncate=k)
        want = reference_grads(cell, params, xs, placement, k)
        for name in want:
            np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=2e-5,
                                       atol=1e-7, err_msg=f"{cell} {placement} k={k} {name}")


@pytest.mark.parametrize("cell", rnnviz.CELLS)
def test_a_cut_leaves_exact_zeros_before_the_last_chunk_with_the_loss_at_the_last_step(cell):
    params = params_of(cell)
    xs = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (T, B, I)))
    g = np.asarray(rnnviz.hidden_grads(cell, params, xs, readout("last"), truncate=4)["h"])
    # Chunks [0, 4), [4, 8), [8, 9): the loss at step 8 reaches step 8 only.
    assert np.all(g[:8] == 0.0)
    assert np.all(np.abs(g[8]) > 0)


@pytest.mark.parametrize("cell", rnnviz.CELLS)
def test_k_of_at_least_t_is_full_bptt_bit_for_bit(cell):
    params = params_of(cell)
    xs = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (T, B, I)))
    full = rnnviz.hidden_grads(cell, params, xs, readout("all"))
    for k in (T, T + 1, 10**6):
        cut = rnnviz.hidden_grads(cell, params, xs, readout("all"), truncate=k)
        for name in full:
            np.testing.assert_array_equal(np.asarray(cut[name]), np.asarray(full[name]))
    # Inside a program k is data: a k that cuts nothing gives full BPTT to rounding.
    k_data = bptt._hidden_grads(cell, params, xs, None, readout("all"), None, np.int32(T))
    for name in full:
        np.testing.assert_allclose(np.asarray(k_data[name]), np.asarray(full[name]),
                                   rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(full["h"]),
                               reference_grads(cell, params, xs, "all", None)["h"],
                               rtol=2e-5, atol=1e-7)


def test_the_cut_runs_backward_in_a_backward_direction():
    """A bidirectional layer's backward direction counts its chunks from the sequence's end."""
    net = rnnviz.init_params(jax.random.PRNGKey(4), "rnn", I, H, layers=1, bidirectional=True)
    xs = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (T, B, I)))
    loss = functools.partial(rnnviz.readout_loss, length=T, placement="last")
    g = np.asarray(rnnviz.hidden_grads("rnn", net, xs, loss, truncate=3)["h"])  # (1, 2, T, B, H)
    # The loss reads step 8: forward chunks [0,3) [3,6) [6,9) reach steps 6-8; backward the
    # state at step 8 is the backward direction's first, so only step 8 itself.
    assert np.all(g[0, 0, :6] == 0) and np.all(np.abs(g[0, 0, 6:]) > 0)
    assert np.all(g[0, 1, :8] == 0) and np.all(np.abs(g[0, 1, 8]) > 0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_a_truncation_that_is_not_a_whole_number_of_steps_is_refused(bad):
    with pytest.raises(ValueError, match="truncate"):
        rnnviz.hidden_grads("rnn", params_of("rnn"), np.zeros((T, B, I), np.float32),
                            readout("last"), truncate=bad)


# --- The trainer and the Training lab's sentence --------------------------------------------

ADDING = dataclasses.replace(train.PRESETS["adding_lstm_vs_rnn"], chrono_tmax=None)


@functools.lru_cache(maxsize=None)
def lab_run(k, steps=700, cell="lstm"):
    config = dataclasses.replace(ADDING, cell=cell, truncate=k, steps=steps)
    return train.collect(config, train.train(config))


def test_the_trainer_cuts_the_gradient_where_hidden_grads_does():
    """The probe's ∂ℓ/∂h_t under truncation after 7 steps: exactly 0 before the last chunk
    (steps 49 // 7 · 7 = 49 on), not 0 inside it; without truncation, not 0 anywhere."""
    cut, full = lab_run(7, steps=1), lab_run(None, steps=1)
    for profile in cut.profiles:
        assert np.all(profile[:49] == 0) and profile[49] > 0
        assert claims.truncation_reach(profile) == 49
    assert np.all(full.profiles > 0)
    assert claims.truncation_reach(full.profiles[0]) == 0


def test_truncation_at_the_sequence_length_trains_as_full_bptt():
    assert np.array_equal(lab_run(50, steps=1).profiles, lab_run(None, steps=1).profiles)
    assert np.array_equal(lab_run(50, steps=1).losses, lab_run(None, steps=1).losses)


def test_the_truncation_sentence_states_the_reach_read_from_the_profile():
    history = lab_run(7, steps=1)
    text = claims.truncation_outcome(7, TASKS["adding"], 50, {"LSTM": history.profiles[-1]})
    assert "k = 7" in text and "steps 49–49 only" in text and "before step 49" in text
    assert "steps 0–24, out of that reach" in text
    # A profile that reaches further is read as such.
    profile = np.r_[np.zeros(20), np.ones(30)]
    text = claims.truncation_outcome(30, TASKS["adding"], 50, {"LSTM": profile})
    assert "steps 20–49 only" in text and "only 20% of its positions" in text
    assert "full backpropagation" in claims.truncation_outcome(50, TASKS["adding"], 50, {})


def test_the_copy_sentence_counts_the_recall_steps_whose_chunk_reaches_the_symbols():
    # T = 1: 21 steps, recall in steps 11-20; k = 9 puts steps 11-17 in the chunk [9, 18).
    text = claims.truncation_outcome(9, TASKS["copy"], 1, {})
    assert "recalled in steps 11–20" in text and "7 of the 10 recall steps" in text
    assert "none of the recall" in claims.truncation_outcome(10, TASKS["copy"], 30, {})
