"""Unrolling with ``lax.scan`` and exact gradient-flow analytics, for one layer or a network.

Time-major shapes throughout: ``xs (T, B, I)``, ``hs (T, B, H)``. A network (cells.Network:
L layers, D directions) runs the same scan once per layer and direction; its top output is
``(T, B, D·H)`` and its per-layer arrays are ``(L, D, T, B, H)``, the backward direction
indexed by input position t as in PyTorch's ``output``. One unidirectional layer keeps the
one-layer shapes ``(T, B, H)``. A mixed network (layers that differ in directions D_k or
units H_k, as Keras stacks them) has a top output ``(T, B, D_top·H_top)`` and per-layer
results as an L-tuple of ``(D_k, T, B, H_k)`` arrays (`per_layer_arrays` reads both forms).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import programs
from rnnviz.engine.cells import (
    STEPS,
    CellParams,
    Network,
    as_network,
    check_cell,
    check_network,
    init_carry,
    is_single_layer,
)

# Smallest magnitude the analytics vouch for; anything smaller is reported as "below".
FLOOR = 1e-30
LOSS_PLACEMENTS = ("last", "all")
LOG10_2 = 0.30102999566398120  # log10(2), a Python float so it keeps the dtype of the carry


def as_array(x):
    """A jax or numpy array as it is, anything else as numpy. (`jnp.asarray` of a numpy
    array compiles and keeps a small copy program for every new shape, jax 0.10.)"""
    return x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x)


def _carry0(cell, params, xs, h0=None, c0=None):
    if h0 is None:
        h0 = jnp.zeros((xs.shape[1], params.w_hh.shape[1]), xs.dtype)
    carry = init_carry(cell, h0)
    return carry if c0 is None else (carry[0], c0)


# The carry parts as a step also outputs them: (h,), or (h, c) for the LSTM (cells.py).
STATE_OUTPUTS = ("h", "c")


def _scan(step, params, xs, carry0, eps=None, reverse=False, length=None, truncate=None):
    """Run `step` (a pure ``step(params, carry, x, eps) -> (carry, out)``, as cells.STEPS
    holds them) over xs from carry0; eps, if given, perturbs each new state (see cells.py).

    The one scan of the engine: every layer, direction and model runs through it.

    Returns:
      (carry, outs): the final carry, the state after the last real step, in carry0's form
      ((h,) or (h, c)), e.g. to start another scan from; outs the stacked step outputs, a
      dict of (T, B, H) arrays, "h" and the gates, at the input positions t (also with
      ``reverse``, which runs the sequence backwards, for a backward direction).

    length: the steps t ≥ length are padding: the state there is carry0 (and they output
      it), by a select per step, never a branch (this scan is differentiated). Running
      backward, step length − 1 then starts from carry0 as if the sequence ended there;
      running forward, a state cannot run on and overflow in the padding (train.py), and
      the final carry, the state after step length − 1, is read from the outputs. (Holding
      the running carry there instead changes how XLA fuses the step: results move by an ulp.)

    truncate: None (full backpropagation through time), or k (an int, or a traced one):
      truncated BPTT. The carry entering the n-th step this scan runs (n counted from 0 in
      its own direction) is detached from the gradient when n > 0 and n % k == 0, as
      PyTorch users do with ``h = h.detach()`` between chunks of k steps. The cut is a
      select of a stop-gradient, so k is data: k ≥ the length is full BPTT again. The
      forward values do not change.
    """
    cut = None if truncate is None else _cuts(xs.shape[0], truncate, reverse, length)
    if length is None:

        def body(carry, inputs):
            x, e, c = inputs
            return step(params, _detached_if(c, carry), x, e)

        return jax.lax.scan(body, carry0, (xs, eps, cut), reverse=reverse)

    def masked_body(carry, inputs):
        x, e, t, c = inputs
        new, out = step(params, _detached_if(c, carry), x, e)
        new = tuple(jnp.where(t < length, a, a0) for a, a0 in zip(new, carry0))
        return new, {**out, **dict(zip(STATE_OUTPUTS, new))}

    carry, outs = jax.lax.scan(masked_body, carry0, (xs, eps, jnp.arange(xs.shape[0]), cut),
                               reverse=reverse)
    return (carry if reverse else _state_at(outs, length - 1, len(carry))), outs


def _cuts(steps: int, k, reverse: bool, length=None):
    """(steps,) bools: where truncated BPTT detaches the carry entering input step t, the
    n-th step in the scan's own order (n = t forward, length − 1 − t backward) with n > 0
    and n % k == 0."""
    t = jnp.arange(steps)
    n = (steps if length is None else length) - 1 - t if reverse else t
    return (n > 0) & (n % jnp.maximum(k, 1) == 0)


def _detached_if(cut, carry):
    """The carry, detached from the gradient where `cut` (None: as it is). A select, not a
    branch: the scan is differentiated, and its value is the carry's either way."""
    if cut is None:
        return carry
    return tuple(jnp.where(cut, jax.lax.stop_gradient(a), a) for a in carry)


def _state_at(outs, t, parts: int) -> tuple:
    """The carry of `parts` parts after step t, read from a scan's outputs (`STATE_OUTPUTS`)."""
    return tuple(outs[name][t] for name in STATE_OUTPUTS[:parts])


def _start_state(net: Network, h0, k: int, d: int):
    """Layer k, direction d's slice of a start state as the public API takes it: (B, H) for
    one layer (its one-layer view), else h0[k·D + d] of an (L·D, B, H) array, PyTorch's h_0
    order (layer 0 forward, layer 0 backward, ...).
    (A mixed network starts from zeros: `check_start_state` refuses an h0 for it.)"""
    if h0 is None or is_single_layer(net):
        return h0
    return h0[sum(net.directions[:k]) + d]


def _carries0(cell, net: Network, xs, h0=None, c0=None) -> tuple:
    """The start carry of every layer and direction: carries[k][d], as `_carry0` makes them."""
    return tuple(
        tuple(_carry0(cell, p, xs, _start_state(net, h0, k, d), _start_state(net, c0, k, d))
              for d, p in enumerate(layer))
        for k, layer in enumerate(net.layers))


def _join_directions(parts):
    """[forward, backward] along the feature axis, as layer k + 1 and the user read them."""
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


class NetworkScan(NamedTuple):
    """What `_network_scan` returns."""

    outs: tuple  # outs[k][d]: step outputs of layer k, direction d (dict of (T, B, H_k))
    ys: jax.Array  # (T, B, D·H): the top layer's output (layer `top`'s with `live`)
    carries: tuple  # carries[k][d]: its final carry, in the form of carries0[k][d]


def _direction_scan(step, params, xs, carry0, eps, backward: bool, length, truncate=None):
    """One direction of a layer: `_scan`, the backward one reversed from step length − 1.

    The forward one runs on through the padding, as it always has (nothing real reads it
    there, so its outputs there are left as they were); its final carry, the state after
    the last real step, is read at step length − 1 instead.
    """
    if backward:
        return _scan(step, params, xs, carry0, eps, reverse=True, length=length,
                     truncate=truncate)
    carry, outs = _scan(step, params, xs, carry0, eps, truncate=truncate)
    return (carry if length is None else _state_at(outs, length - 1, len(carry))), outs


def _network_scan(cell, net: Network, xs, carries0, eps=None, length=None,
                  live=None, truncate=None) -> NetworkScan:
    """Run every layer and direction of `net` over xs (T, B, I), bottom layer first.

    Each is one `_scan` of its cell (`_direction_scan`); layer k > 0 reads the [forward,
    backward] outputs of layer k − 1. The backward direction runs reversed (respecting
    `length`, see `_scan`).

    live: None, or (top, two_way), traced scalars, for a network padded to a larger form
      (`deep.pad_network`): its layers above `top` read zeros, and so does its backward
      direction unless `two_way`, whose output also reads as zeros; ys is layer `top`'s
      output. So one program serves every depth and both directions settings. Those parts
      have zero weights and are exactly 0 already; the selects (not branches: this is
      differentiated) keep an inf of a real part from reaching them as 0·inf = NaN, and
      give them and what only they read exactly-0 cotangents.
    truncate: truncated BPTT after k steps in every layer and direction (see `_scan`).

    Returns:
      NetworkScan (outs, ys, carries): the step outputs of every layer and direction, the
      top layer's output, and the final carry of every layer and direction: the state
      after the last real step (< length), the backward direction's after x_0. A part that
      is not `live` has zero outputs and carries.
    """
    step = STEPS[cell]
    inputs, outs, carries, ys = xs, [], [], None
    for k, layer in enumerate(net.layers):
        if live is not None and k > 0:
            inputs = jnp.where(k <= live[0], inputs, 0.0)

        def run(d, inputs, k=k):
            return _direction_scan(step, layer[d], inputs, carries0[k][d],
                                   None if eps is None else eps[k][d], d == 1, length,
                                   truncate)

        if live is None:
            row = tuple(run(d, inputs) for d in range(len(layer)))
        else:
            row = tuple(_run_if_live(run, d, jnp.where(live[1], inputs, 0.0) if d else inputs,
                                     (k <= live[0]) & ((d == 0) | live[1]))
                        for d in range(len(layer)))
        carries.append(tuple(carry for carry, _ in row))
        outs.append(tuple(o for _, o in row))
        hs = [o["h"] for _, o in row]
        if live is not None and len(hs) == 2:
            hs[1] = jnp.where(live[1], hs[1], 0.0)
        inputs = _join_directions(hs)
        if live is not None:
            ys = inputs if ys is None else jnp.where(k == live[0], inputs, ys)
    return NetworkScan(tuple(outs), inputs if live is None else ys, tuple(carries))


def _run_if_live(run, d, inputs, is_live):
    """run(d, inputs) where a padded network's part is live, else its outputs as zeros, as
    one branch of a `lax.cond` per layer and direction (not per step): a part that is not
    live costs nothing, forward or backward, and its cotangents are exactly 0, as the
    selects in `_network_scan` make them. (Its gates would be σ(0) = ½, not 0; nothing
    reads a part that is not live.)"""
    def idle(inputs):
        return jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda x: run(d, x), inputs))

    return jax.lax.cond(is_live, lambda x: run(d, x), idle, inputs)


def _per_layer(net: Network, parts):
    """Nested per-layer, per-direction arrays parts[k][d] (T, B, H_k) as one (L, D, T, B, H)
    array. A mixed network's layers do not stack: an L-tuple of (D_k, T, B, H_k) arrays."""
    if not net.is_uniform:
        return tuple(jnp.stack(list(row)) for row in parts)
    return jnp.stack([jnp.stack(list(row)) for row in parts])


def _one_layer_view(net: Network, tree):
    """The public API's edge: a single unidirectional layer's (1, 1, T, B, H) results as the
    one-layer shapes (T, B, H); any other network's as they are."""
    return jax.tree.map(lambda a: a[0, 0], tree) if is_single_layer(net) else tree


def per_layer_arrays(a) -> tuple:
    """Any per-layer result (a gradient or gate, as `unroll`, `flow` and `hidden_grads` return
    it) as an L-tuple of (D_k, T, B, H_k) arrays: (T, B, H) of one layer -> ((1, T, B, H),),
    (L, D, T, B, H) of a uniform network -> its L layers, a mixed network's tuple as it is."""
    if isinstance(a, (tuple, list)):
        return tuple(a)
    if a.ndim == 3:
        return (a[None],)
    return tuple(a[k] for k in range(a.shape[0]))


def network_norms(grads) -> tuple:
    """‖∂L/∂h_t‖ per layer, direction and step, RMS over the batch, for any network: an
    L-tuple of (D_k, T) float64 arrays (see `per_layer_arrays` for what `grads` may be).
    For a uniform network `layer_norms` gives the same numbers as one (L, D, T) array."""
    return tuple(per_step_norms(np.asarray(g)) for g in per_layer_arrays(grads))


def _gates(net: Network, outs) -> dict:
    names = [name for name in outs[0][0] if name != "h"]
    return {name: _per_layer(net, [[o[name] for o in row] for row in outs]) for name in names}


@programs.jit(static_argnames=("cell",))
def _unroll(cell, net: Network, xs, h0, c0, length=None):
    scan = _network_scan(cell, net, xs, _carries0(cell, net, xs, h0, c0), length=length)
    return scan.ys, _one_layer_view(net, _gates(net, scan.outs))


def _network_of(cell, params, xs, h0=None, c0=None) -> Network:
    """Where a setting enters the engine: `params` as a Network, once. A Network is checked
    (its layers fit, its start states are PyTorch's); one layer's CellParams passes
    unchecked, as before networks existed."""
    check_cell(cell)
    net = as_network(params)
    if not isinstance(params, CellParams):
        check_network(cell, net)
        check_start_state(net, xs, h0)
        check_start_state(net, xs, c0, "c0")
    return net


def check_start_state(params, xs, h0, name="h0"):
    """For a network, h0 must be (L·D, B, H), PyTorch's h_0 (a ValueError otherwise); one
    layer's (B, H) start state is passed through unchecked, as before networks existed. A
    mixed network (layers of different sizes or directions) starts from zeros only."""
    net = as_network(params)
    if h0 is None or is_single_layer(net):
        return
    if not net.is_uniform:
        raise ValueError(f"{name} must be None (zeros) for a network whose layers differ in "
                         f"directions {net.directions} or sizes {net.hidden_sizes}")
    want = (net.num_layers * net.num_directions, xs.shape[1], net.hidden_size)
    if tuple(np.shape(h0)) != want:
        raise ValueError(f"{name} of a {net.num_layers}-layer network with "
                         f"{net.num_directions} direction(s) has shape (L·D, B, H) = {want}, "
                         f"got {tuple(np.shape(h0))}")


def _length_if_needed(net: Network, length):
    """`length` where it changes results (a backward direction reads from the end), else None,
    so that one-layer and unidirectional programs stay the same and need no length."""
    return length if 2 in net.directions else None


def unroll(cell: str, params, xs, h0=None, c0=None, length=None):
    """Run a cell, or a network of them, over a sequence.

    Args:
      cell: one of `CELLS`.
      params: CellParams (one layer, PyTorch layout) or a cells.Network (L layers × D
        directions, from `init_params(..., layers=, bidirectional=)`, `from_torch`,
        `from_keras`).
      xs: (T, B, I) inputs.
      h0: start state, or None for zeros: (B, H) for one layer, (L·D, B, H) for a network
        (PyTorch's h_0). c0: the LSTM's start cell state, same shapes (zeros).
      length: number of real steps when xs is padded; only a backward direction needs it
        (it starts at step length − 1). Outputs from `length` on are padding.
    Returns:
      hs and a dict of gate activations: LSTM i, f, g, o and the cell state c; GRU r, z, n;
      nothing for the vanilla cells. One layer: hs and each gate (T, B, H). A network: hs
      (T, B, D·H), the top layer's [forward, backward] output (= torch's ``output``), and
      each gate (L, D, T, B, H): layer, direction (0 forward, 1 backward), input step. A
      mixed network (Keras's Bidirectional under a one-way layer): hs (T, B, D_top·H_top)
      and each gate an L-tuple of (D_k, T, B, H_k).
    """
    xs = as_array(xs)
    net = _network_of(cell, params, xs, h0, c0)
    return _unroll(cell, net, xs, h0, c0, _length_if_needed(net, length))


def readout_loss(hs, length, placement="last", units=None):
    """L = Σ_b vᵀh_t with v = (1,…,1)/√H: a fixed unit-norm linear readout.

    Because ‖v‖ = 1, ∂L/∂h at the step the loss reads has norm 1 for every sequence, so
    the norm at earlier steps *is* the factor by which the gradient shrank or grew.

    Args:
      hs: (T, B, H), or a network's (T, B, D·H) output; possibly padded past `length`.
      length: number of real steps; steps from `length` on are padding and ignored.
      placement: "last" reads h at step length−1 only, "all" sums over every real step.
      units: number of real units; units from `units` on are padding and ignored (v has
        H = `units` entries, the rest 0). None: all of them.
    """
    if placement not in LOSS_PLACEMENTS:
        raise ValueError(f"loss placement must be one of {LOSS_PLACEMENTS}")
    if units is None:
        readout = hs.sum(axis=-1) / jnp.sqrt(hs.shape[-1])  # (T, B)
    else:
        real = jnp.arange(hs.shape[-1]) < units
        readout = jnp.where(real, hs, 0.0).sum(axis=-1) / jnp.sqrt(jnp.asarray(units, hs.dtype))
    t = jnp.arange(hs.shape[0])[:, None]
    mask = (t == length - 1) if placement == "last" else (t < length)
    return jnp.sum(jnp.where(mask, readout, 0.0))


def flow(cell, params, xs, loss_fn, h0=None, length=None, live=None, truncate=None):
    """Forward pass and ∂L/∂(state_t) for every t in one reverse pass (traceable, not jitted).

    A zero perturbation eps_t is added to every new state inside the scan of every layer
    and direction; since L(eps) = L(states + eps), jax.grad at eps = 0 is the total
    derivative ∂L/∂h_t (and ∂L/∂c_t for the LSTM) at every step of every layer, for the
    cost of one backward pass.

    Args:
      params: CellParams or a cells.Network. loss_fn(hs): hs as `unroll` returns it.
      length: as in `unroll` (only a backward direction needs it).
      live: (top, two_way) for a padded network, as in `_network_scan`: hs is then layer
        top's output, and the gradients of the parts not live are exactly 0.
      truncate: None (full BPTT) or k: truncated BPTT, the carry detached every k steps
        (see `_scan`); the gradients are then those a truncated training step uses.
    Returns:
      (loss, hs, gates, grads) with hs and gates as `unroll` returns them and grads
      {"h"} (and "c" for the LSTM), each (T, B, H) for one layer, (L, D, T, B, H) for a
      network, an L-tuple of (D_k, T, B, H_k) for a mixed one.
    """
    net = as_network(params)  # an entry too (traced by one_layer, deep): once, here
    length = _length_if_needed(net, length)
    carries0 = _carries0(cell, net, xs, h0)
    eps = jax.tree.map(lambda c: jnp.zeros((xs.shape[0],) + c.shape, c.dtype), carries0)

    def loss_of_eps(eps):
        scan = _network_scan(cell, net, xs, carries0, eps, length, live, truncate)
        return loss_fn(scan.ys), (scan.outs, scan.ys)

    (loss, (outs, ys)), g = jax.value_and_grad(loss_of_eps, has_aux=True)(eps)
    # An infinite loss has no derivative; JAX would report relu'(NaN) = 0, i.e. a silent
    # "vanished" gradient where the network in fact blew up. Say NaN instead.
    g = jax.tree.map(lambda a: jnp.where(jnp.isfinite(loss), a, jnp.nan), g)
    grads = {"h": _per_layer(net, [[parts[0] for parts in row] for row in g])}
    if cell == "lstm":
        grads["c"] = _per_layer(net, [[parts[1] for parts in row] for row in g])
    return loss, ys, _one_layer_view(net, _gates(net, outs)), _one_layer_view(net, grads)


@programs.jit(static_argnames=("cell", "loss_fn"))
def _hidden_grads(cell, net: Network, xs, h0, loss_fn, length=None, truncate=None):
    return flow(cell, net, xs, loss_fn, h0, length, truncate=truncate)[3]


def hidden_grads(cell: str, params, xs, loss_fn, h0=None, length=None, truncate=None):
    """∂L/∂h_t for every t (total derivative, through all later steps), in one reverse pass.

    Args:
      params: CellParams (one layer) or a cells.Network.
      loss_fn: ``loss_fn(hs) -> scalar`` with hs as `unroll` returns it, (T, B, H) for one
        layer, (T, B, D·H) for a network; e.g.
        ``functools.partial(rnnviz.readout_loss, length=T, placement="last")``.
      h0, length: as in `unroll`.
      truncate: None for full backpropagation through time, or k ≥ 1: truncated BPTT, the
        carry detached before every step t with t % k == 0 (t > 0), as PyTorch's
        ``h = h.detach()`` between chunks of k steps does; k ≥ T is full BPTT, bit for bit.
        ∂L/∂h_t then holds only the paths that stay inside t's chunk.
    Returns:
      {"h"}, and for the LSTM also "c": ∂L/∂c_t including the path through
      ``h_t = o_t * tanh(c_t)``; each (T, B, H) for one layer and (L, D, T, B, H) for a
      network (layer, direction, input step t, batch, unit), an L-tuple of
      (D_k, T, B, H_k) for a mixed network (`network_norms` reads every form). Overflow
      shows up as inf/NaN entries, never an exception.
    """
    xs = as_array(xs)
    net = _network_of(cell, params, xs, h0)
    if truncate is not None:
        truncate = _check_truncate(truncate)
        # k ≥ T cuts nothing: the full BPTT program itself, so that it is bit for bit (a
        # select that cuts nothing still lets XLA fuse the step differently: an ulp).
        truncate = None if truncate >= xs.shape[0] else np.int32(truncate)
    return _hidden_grads(cell, net, xs, h0, loss_fn, _length_if_needed(net, length), truncate)


def _check_truncate(k) -> int:
    """k as an int ≥ 1, or a ValueError that says what truncate must be."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"truncate must be None or a whole number of steps ≥ 1, not {k!r}")
    return min(int(k), np.iinfo(np.int32).max)


def _scaled(tree):
    """Divide a pytree of (B, R, ·) arrays by 2^e ~ its max |entry| per batch row; return e.

    A power of two divides exactly and the exponents add up exactly in float32; summing
    float32 log10(max) instead drifts by ~1e-4 relative over 300 steps.
    """
    m = jnp.max(jnp.stack([jnp.max(jnp.abs(a), axis=(1, 2)) for a in tree]), axis=0)  # (B,)
    # An all-zero product is exactly zero (e.g. dead relus): keep it, its log norm is -inf.
    m = jnp.where(m > 0, m, 1.0)
    _, e = jnp.frexp(m)  # m = mantissa * 2^e, mantissa in [0.5, 1)
    scale = jnp.ldexp(jnp.ones_like(m), e)
    return tuple(a / scale[:, None, None] for a in tree), e.astype(m.dtype)


def _log10_matrix_norm(p, ord):
    """log10 ‖p_b‖ for p (B, H, H), scaled before squaring so tiny entries do not flush to 0."""
    m = jnp.max(jnp.abs(p), axis=(1, 2))
    safe = jnp.where(m > 0, m, 1.0)
    q = p / safe[:, None, None]
    if ord == "fro":
        n = jnp.sqrt(jnp.sum(q * q, axis=(1, 2)))
    else:
        n = jnp.linalg.norm(q, ord=2, axis=(1, 2))
    return jnp.where(m > 0, jnp.log10(safe) + jnp.log10(n), -jnp.inf)


def jacobian_log10_norms(cell, params, xs, h0, length, ord="fro", every=1, units=None):
    """log10 ‖∂h_{length−1}/∂h_t‖ for every t, as (T, B); traceable (jit with static cell, ord, every).

    Carries the product P_t = ∂h_T/∂s_t backwards (s = h, or (h, c) for the LSTM), one
    step Jacobian at a time as H vector-Jacobian products batched by vmap, so memory stays
    O(B·H²) whatever T. P is renormalised every step and its scale carried as a log, so
    norms of 1e-300 or 1e+300 come out exact instead of underflowing or overflowing.
    Entries at t ≥ length (padding) are -inf, and those steps are skipped (one `lax.cond`
    each), so a program padded to the longest sequence costs the real steps only.

    Args:
      every: take the norm only at t = 0, every, 2·every, … (NaN elsewhere); may be traced.
        The product is still carried through every step; this saves the norms, which for
        ord=2 (an SVD per step and sequence) cost more than the product itself.
      units: number of real units when the cell is padded with units that stay 0
        (`one_layer.pad_units`); may be traced. None: all of them. A padded unit's own
        Jacobian entry need not be 0 (a GRU's is z = σ(0) = ½), so the product starts
        from the real units' rows only: no real unit reads a padded one, so the padded
        rows and columns of P then stay exactly 0 and both norms are the unpadded cell's.
    """
    step = STEPS[cell]
    carry0 = _carry0(cell, params, xs, h0)
    _, outs = _scan(step, params, xs, carry0)
    states = (outs["h"], outs["c"]) if cell == "lstm" else (outs["h"],)
    prev_states = tuple(jnp.concatenate([c[None], s[:-1]]) for c, s in zip(carry0, states))
    B, H = carry0[0].shape
    eye = jnp.eye(H, dtype=xs.dtype)
    if units is not None:
        eye = jnp.where((jnp.arange(H) < units)[:, None], eye, 0.0)
    eye = jnp.broadcast_to(eye, (B, H, H))
    p_last = (eye,) + tuple(jnp.zeros_like(eye) for _ in carry0[1:])

    def body(carry, inputs):
        p, log2_scale = carry  # P_t = 2^log2_scale * p, the exponent an exact integer
        t, x, prev = inputs
        is_last = t == length - 1
        p = tuple(jnp.where(is_last, a, b) for a, b in zip(p_last, p))
        log2_scale = jnp.where(is_last, 0.0, log2_scale)
        log_norm = log2_scale * LOG10_2 + jax.lax.cond(
            t % every == 0,
            lambda m: _log10_matrix_norm(m, ord),
            lambda m: jnp.full(m.shape[:1], jnp.nan, m.dtype),
            p[0],
        )
        log_norm = jnp.where(t < length, log_norm, -jnp.inf)
        _, vjp = jax.vjp(lambda s: step(params, s, x)[0], prev)
        # Row r of P times the step Jacobian, for all r at once: (B, R, H) per state part.
        p_prev = jax.vmap(lambda row: vjp(row)[0], in_axes=1, out_axes=1)(p)
        p_prev, e = _scaled(p_prev)
        return (p_prev, log2_scale + e), log_norm

    def padding(carry, inputs):  # t ≥ length: nothing to carry (P starts at length − 1)
        return carry, jnp.full((B,), -jnp.inf, xs.dtype)

    init = (p_last, jnp.zeros((B,), xs.dtype))
    _, log_norms = jax.lax.scan(
        lambda carry, inputs: jax.lax.cond(inputs[0] < length, body, padding, carry, inputs),
        init, (jnp.arange(xs.shape[0]), xs, prev_states), reverse=True
    )
    return log_norms


_jacobian_log10_jit = programs.jit(jacobian_log10_norms, static_argnames=("cell", "ord", "every"),
                                   one_at_a_time=True)  # ord=2 is an SVD


def jacobian_norms(cell: str, params: CellParams, xs, h0=None, ord="fro") -> np.ndarray:
    """‖∂h_T/∂h_t‖ for every t: the Jacobian profile, (T, B) float64 numpy.

    Entry T−1 is the norm of the identity (√H for "fro", 1 for ord=2). Computed in log
    space, so it is exact far below float32's range; for the LSTM, h_t is perturbed with
    c_t held, and the effect reaches h_T through both h and c.

    Args:
      ord: "fro" (Frobenius) or 2 (spectral norm, the largest singular value).
    """
    check_cell(cell)
    if not isinstance(params, CellParams):
        raise ValueError("jacobian_norms is defined for one unidirectional layer (CellParams); "
                         "for a network use hidden_grads and layer_norms")
    if ord not in ("fro", 2):
        raise ValueError('ord must be "fro" or 2')
    xs = as_array(xs)
    logs = _jacobian_log10_jit(cell, params, xs, h0, xs.shape[0], ord)
    return np.power(10.0, np.asarray(logs, np.float64))


def per_step_norms(grads) -> np.ndarray:
    """‖∂L/∂h_t‖ per sequence, root-mean-square over the batch: (..., T, B, H) -> (..., T)
    float64; e.g. (T, B, H) -> (T,), a network's (L, D, T, B, H) -> (L, D, T).

    Float64 on the host, so squares of 1e-30 do not flush to zero as float32 does on CPU.
    """
    g = np.asarray(grads, np.float64)
    return np.sqrt(np.mean(np.sum(g * g, axis=-1), axis=-1))


def layer_norms(grads) -> np.ndarray:
    """‖∂L/∂h_t‖ per layer, direction and step, RMS over the batch: (L, D, T) float64.

    Args:
      grads: ``hidden_grads(...)["h"]`` (or "c"): (L, D, T, B, H) for a network, or
        (T, B, H) for one layer (returned as (1, 1, T)).
    """
    g = np.asarray(grads)
    return per_step_norms(g[None, None] if g.ndim == 3 else g)


def layer_steps_per_decade(norms, floor=FLOOR):
    """`steps_per_decade` of every layer and direction, each "going back" its own way.

    The forward direction's gradient goes back toward earlier steps; the backward
    direction reads the sequence from the end, so its "back" is toward later steps and its
    profile is fitted with time reversed.

    Args:
      norms: (L, D, T) as from `layer_norms`, cut to the real steps.
    Returns:
      (steps, directions): steps (L, D) float64, NaN where there is no rate; directions
      an L-tuple of D-tuples of "falls", "grows", "flat" or None (see `steps_per_decade`).
    """
    norms = np.asarray(norms, np.float64)
    steps = np.full(norms.shape[:2], np.nan)
    directions = []
    for k in range(norms.shape[0]):
        row = []
        for d in range(norms.shape[1]):
            rate, direction = steps_per_decade(norms[k, d] if d == 0 else norms[k, d, ::-1], floor)
            steps[k, d] = np.nan if rate is None else rate
            row.append(direction)
        directions.append(tuple(row))
    return steps, tuple(directions)


def per_unit_magnitudes(grads) -> np.ndarray:
    """|∂L/∂h_t[j]| root-mean-square over the batch: (T, B, H) -> (T, H) float64."""
    g = np.asarray(grads, np.float64)
    return np.sqrt(np.mean(g * g, axis=1))


def no_dependence(values, floor=FLOOR, axis=-1, log10=False) -> np.ndarray:
    """Where a norm is exactly 0 because nothing there reaches the loss: a bool mask of
    `values`' shape, for "no dependence" to be drawn and said apart from "below `floor`".

    An exact 0 is "no dependence" (no path to the loss, or every path through an inactive
    relu or a tanh′ that is 0 in float32) unless its stretch of zeros along `axis` (time)
    touches a nonzero value below `floor`: a gradient that fades through 1e-30 … 1e-38 is
    then flushed to 0 by float32 (XLA on CPU flushes subnormals), and is only "below".

    Args:
      values: norms (≥ 0; inf/NaN allowed), or with log10=True their log10 (-inf = 0), as
        the connectivity maps hold them.
    """
    v = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    with np.errstate(invalid="ignore"):
        if log10:
            zero, tiny = np.isneginf(v), np.isfinite(v) & (v < np.log10(floor))
        else:
            zero, tiny = v == 0, np.isfinite(v) & (v != 0) & (np.abs(v) < floor)
    n = v.shape[-1]
    if n == 0:
        return np.moveaxis(zero, -1, axis)
    idx = np.broadcast_to(np.arange(n), v.shape)
    # The nearest nonzero entry on each side of every entry (-1 and n: none).
    before = np.maximum.accumulate(np.where(~zero, idx, -1), axis=-1)
    after = np.flip(np.minimum.accumulate(np.flip(np.where(~zero, idx, n), -1), axis=-1), -1)

    def tiny_at(i):
        return (i >= 0) & (i < n) & np.take_along_axis(tiny, np.clip(i, 0, n - 1), -1)

    return np.moveaxis(zero & ~tiny_at(before) & ~tiny_at(after), -1, axis)


def steps_per_decade(norms, floor=FLOOR):
    """How many steps back in time the gradient changes 10×, from a log-linear fit.

    Args:
      norms: (T,) gradient or Jacobian norms, time running forward.
    Returns:
      (steps, direction) with direction "falls", "grows" or "flat" (changes less than 10×
      over the whole sequence; steps is then None). None, None without two usable points.
    """
    norms = np.asarray(norms, np.float64)
    t = np.arange(norms.size)
    ok = np.isfinite(norms) & (norms >= floor)
    if ok.sum() < 2:
        return None, None
    slope = np.polyfit(t[ok], np.log10(norms[ok]), 1)[0]  # log10 change per step forward
    span = t[ok].max() - t[ok].min()
    if abs(slope) * span < 1.0:
        return None, "flat"
    return float(1.0 / abs(slope)), ("falls" if slope > 0 else "grows")


def first_nonfinite(a, axis_time=0):
    """Index of the first time step holding inf/NaN, or None."""
    a = np.moveaxis(np.asarray(a), axis_time, 0)  # a bare reshape would mix up the axes
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def last_nonfinite(a):
    """Index of the last time step holding inf/NaN (where a backward blow-up began), or None."""
    a = np.asarray(a)
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return int(a.shape[0] - 1 - np.argmax(bad[::-1])) if bad.any() else None


def pascanu_bound(cell: str, params: CellParams, T: int) -> np.ndarray | None:
    """(γλ₁)^(T−1−t) for t < T, the bound on ‖∂h_T/∂h_t‖ of Pascanu et al. 2013 (vanilla cells).

    γ bounds |act'|: 1 for tanh and for relu. λ₁ is the largest singular value of W_hh.
    Returns None for gated cells, where the theorem does not apply as stated.
    """
    if cell not in ("rnn", "rnn_relu"):
        return None
    lam1 = float(np.linalg.norm(np.asarray(params.w_hh, np.float64), 2))
    gamma = 1.0
    with np.errstate(over="ignore"):
        return (gamma * lam1) ** np.arange(T - 1, -1, -1, dtype=np.float64)
