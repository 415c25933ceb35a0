"""The Training lab's padded programs (one per cell, padded length and width) compute what
the same program computes at the real shapes, and a new setting compiles nothing.

The reference is `train._chunk` itself traced at a config's exact shapes (sequence length L,
one micro-batch of B, H units, the task's own input and output sizes): padding in time,
batch, units, inputs and outputs may change rounding only, and padded units stay exactly 0.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnnviz.engine import programs, train
from rnnviz.engine.cells import CELLS, CellParams
from rnnviz.engine.tasks import TASKS
from rnnviz.engine.train import Model, Readout, TrainConfig

# Small real shapes inside the padded ones: B 5 of 64 (and a second micro-batch), H 3 of
# 32, inputs and outputs of 10; T 6 of 64 steps, and for the copy task T 45: 65 steps, the
# shortest sequence of the long program (220 steps). Three chunks: 25, 25, 7 steps.
CHUNKS = (25, 25, 7)
OPTIMIZER_OF_TASK = {"adding": "adam", "copy": "rmsprop", "sine": "sgd"}
T_OF_TASK = {"adding": 6, "copy": 45, "sine": 6}


def _real_state(config):
    """init_state's weights and optimiser state at the config's real sizes."""
    state, probe_key = train.init_state(config)
    task = TASKS[config.task]
    params = train.unpad_model(state.params, config.cell, config.hidden_size,
                               task.input_size, task.output_size)
    return train._state(params, state.key), probe_key


def _exact(config, state, n, probe_key):
    return train._chunk(state, np.int32(n), np.bool_(True), train.setting(config), probe_key,
                        cell=config.cell, shape=train.exact_shape(config))


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=1e-5, atol=1e-6, err_msg=what)


# rnn_relu is rnn's program with relu for tanh (both keep a padded unit at exactly 0):
# one of the two is enough for the padding, and each case compiles two programs.
@pytest.mark.parametrize("cell", [c for c in CELLS if c != "rnn_relu"])
def test_padded_program_equals_the_exact_shapes(cell):
    for task in TASKS:
        config = TrainConfig(task=task, T=T_OF_TASK[task], cell=cell, hidden_size=3,
                             batch_size=5, optimizer=OPTIMIZER_OF_TASK[task], learning_rate=0.01,
                             clip=0.5 if task == "sine" else None, chrono_tmax=None)
        padded, probe_key = train.init_state(config)
        exact, _ = _real_state(config)
        L = TASKS[task].length(config.T)
        for n in CHUNKS:
            padded, rec_p, probe_p = train._call(config, padded, n, probe_key, True)
            exact, rec_e, probe_e = _exact(config, exact, n, probe_key)
            what = f"{cell} {task}"
            _close(rec_p.losses[:n], rec_e.losses[:n], what + " losses")
            _close(rec_p.grad_norms[:n], rec_e.grad_norms[:n], what + " gradient norms")
            np.testing.assert_array_equal(rec_p.clipped, rec_e.clipped)
            assert not np.asarray(rec_p.bad).any() and np.isnan(rec_p.losses[n:]).all()
            _close(probe_p.loss, probe_e.loss, what + " probe loss")
            _close(probe_p.grad_norm, probe_e.grad_norm, what + " probe gradient norm")
            _close(np.asarray(probe_p.dh)[:L, :, :3], probe_e.dh, what + " dl/dh")
            for gate, value in probe_e.gates.items():
                _close(np.asarray(probe_p.gates[gate])[:L, :, :3], value, what + " " + gate)
        real = train.unpad_model(padded.params, cell, 3, TASKS[task].input_size,
                                 TASKS[task].output_size)
        for a, b in zip(jax.tree.leaves(real), jax.tree.leaves(exact.params)):
            _close(a, b, f"{cell} {task} parameters after {sum(CHUNKS)} steps")
        assert int(padded.step) == int(exact.step) == sum(CHUNKS)
        # Padded units, inputs and outputs: still exactly 0, in every parameter.
        zeroed = train.pad_model(real, cell, 3, TASKS[task].input_size, TASKS[task].output_size)
        for a, b in zip(jax.tree.leaves(padded.params), jax.tree.leaves(zeroed)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_an_overflow_in_the_padding_does_not_reach_the_gradient():
    """A relu RNN growing 4.5× per step is ~1e12 at its last real step (20) and would pass
    float32's max by step 60 of the 64 it is padded to: the state is held at zero from
    step 20 on, so the loss, ∂L/∂θ and ∂ℓ/∂h_t stay finite, as at the real length."""
    config = TrainConfig(task="adding", T=20, cell="rnn_relu", hidden_size=3)
    assert train.padded_shape(config).length == 64
    H, I = config.hidden_size, TASKS["adding"].input_size
    model = Model(CellParams(np.ones((H, I), np.float32), 4.5 * np.eye(H, dtype=np.float32),
                             np.zeros(H, np.float32), np.zeros(H, np.float32)),
                  Readout(np.full((1, H), 0.1, np.float32), np.zeros(1, np.float32)))
    _, probe_key = train.init_state(config)
    loss, grad_norm, profile = train.probe_profile(config, model, probe_key)
    assert 1e12 < loss < 1e30 and np.isfinite(grad_norm) and grad_norm > 0
    assert np.isfinite(profile).all() and (profile > 0).all()
    state = train._state(train._padded(config, model), probe_key)
    _, record = train.train_chunk(config, state, 1)
    assert not record.bad[0] and np.isfinite(record.grad_norms[0])


@pytest.mark.parametrize("optimizer", train.OPTIMIZERS)
def test_optimizer_as_data_is_optax_bit_for_bit(optimizer):
    """The program's optimiser switch gives optax's own updates and states."""
    config = TrainConfig(task="sine", cell="gru", hidden_size=4, optimizer=optimizer,
                         learning_rate=0.03, clip=None)
    params = jax.tree.map(jnp.asarray, _real_state(config)[0].params)
    opt = train.make_optimizer(optimizer, config.learning_rate, None)
    s = train.setting(config)
    ours = jax.jit(lambda g, st, p: train._optimizer_update(s, g, st, p))
    theirs = jax.jit(opt.update)
    states, state = train.optimizer_states(params), opt.init(params)
    for a, b in zip(jax.tree.leaves(states[train.OPTIMIZERS.index(optimizer)]),
                    jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # zeros, as optax's
    key = jax.random.PRNGKey(1)
    for i in range(4):
        leaves, treedef = jax.tree.flatten(params)
        grads = jax.tree.unflatten(treedef, [
            jax.random.normal(jax.random.fold_in(key, 9 * i + j), x.shape, x.dtype)
            for j, x in enumerate(leaves)])
        u1, states = ours(grads, states, params)
        u2, state = theirs(grads, state, params)
        for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        params = optax.apply_updates(params, u2)


@pytest.mark.parametrize("task", list(TASKS))
def test_padded_sequences_are_the_real_ones_cut(task):
    """Sequence b is drawn from fold_in(key, b) at the padded length: cut to L, it is the
    draw at L, and the lab's batch is Task.sample's."""
    config = TrainConfig(task=task, T=9, batch_size=70)
    s, t = train.setting(config), TASKS[task]
    key = jax.random.PRNGKey(5)
    L = t.length(config.T)
    padded = [train._sequences(s, key, first, 64, train.LENGTH_PAD, 10, 10) for first in (0, 64)]
    xs = np.concatenate([np.asarray(p[0]) for p in padded], axis=1)[:L, :70, :t.input_size]
    ys = np.concatenate([np.asarray(p[1]) for p in padded], axis=1)[:L, :70]
    real_xs, real_ys = t.sample(key, config.T, 70)
    if task == "sine":  # the same draws; sin compiled into a program vs eagerly: last bits
        np.testing.assert_allclose(xs, np.asarray(real_xs), rtol=0, atol=1e-6)
        np.testing.assert_allclose(ys[..., :1], np.asarray(real_ys), rtol=0, atol=1e-6)
    else:
        np.testing.assert_array_equal(xs, np.asarray(real_xs))
    if task == "adding":
        np.testing.assert_array_equal(ys[-1, :, :1], np.asarray(real_ys))
    elif task == "copy":
        np.testing.assert_array_equal(ys.argmax(-1), np.asarray(real_ys))
    assert (np.concatenate([np.asarray(p[0]) for p in padded], axis=1)[:, :, t.input_size:] == 0).all()


def test_last_step_classification_loss_is_per_sequence():
    """A classification scored at the last step gives one loss per sequence (B,), not a
    batch mean."""
    task = TASKS["copy"]._replace(placement="last")
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(4, 10)), jnp.float32)
    labels = jnp.array([0, 3, 3, 9])
    losses = train.sequence_losses(task, logits, labels)
    assert losses.shape == (4,)
    expected = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    np.testing.assert_allclose(np.asarray(losses), np.asarray(expected), rtol=1e-6)


def test_new_settings_compile_nothing():
    """After one run of a cell at a width at each padded length, any other task, T, batch,
    hidden size within the width, optimiser, rate, clipping, seed or snapshot spacing runs
    on the same programs."""
    base = TrainConfig(cell="rnn", hidden_size=20, steps=3, snapshot_every=2)
    for T in (50, 100):  # 64 and 220 steps
        config = dataclasses.replace(base, T=T)
        list(train.train(config))
        train.gates_before_after(config, train.init_state(config)[0].params)
    compiles = programs.stats()["compiles"]
    for change in (dict(task="copy", T=200, batch_size=128, optimizer="rmsprop", clip=0.3),
                   dict(task="copy", T=44, batch_size=3, hidden_size=7),
                   dict(task="sine", T=2, batch_size=1, hidden_size=32, optimizer="sgd",
                        seed=99, snapshot_every=30, steps=31),
                   dict(task="adding", T=117, batch_size=65, hidden_size=1, learning_rate=1.0)):
        config = dataclasses.replace(base, **change)
        history = train.run(config)
        assert history.profiles.shape[1] == TASKS[config.task].length(config.T)
        train.gates_before_after(config, train.init_state(config)[0].params)
    assert programs.stats()["compiles"] == compiles


def test_catalogue_is_one_program_per_cell_length_and_width():
    entries = train.catalogue()
    assert len(entries) == len(CELLS) * len(train.LENGTHS) * len(train.WIDTHS) + 1 <= 17
    assert len({e.label for e in entries}) == len(entries)
    assert all(e.family == "training" for e in entries)
    assert train.LENGTHS[-1] >= max(t.length(train.T_MAX) for t in TASKS.values())
    # The defaults' and the presets' programs come first.
    firsts = {e.label for e in entries if e.first}
    for config in (TrainConfig(), *train.PRESETS.values()):
        start = (f"{config.cell}, H ≤ {train.width(config.hidden_size)}, "
                 f"L ≤ {train.padded_shape(config).length},")
        assert any(label.startswith(start) for label in firsts), config
