"""Recurrent cells as pure step functions, in ``lax.scan``'s signature.

Weights use PyTorch's layout and gate order so that users can bring their own weights:
``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih (G*H,)``, ``b_hh (G*H,)`` with G gates fused.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

CELLS = ("rnn", "rnn_relu", "lstm", "gru")

# Number of fused gate blocks per cell; PyTorch order: LSTM i, f, g, o; GRU r, z, n.
GATE_BLOCKS = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
GATE_NAMES = {"rnn": (), "rnn_relu": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
# What `unroll` returns in its gates dict for each cell (the LSTM's cell state c too).
GATE_OUTPUTS = {"rnn": (), "rnn_relu": (), "lstm": ("i", "f", "g", "o", "c"), "gru": ("r", "z", "n")}

CELL_LABELS = {
    "rnn": "Vanilla RNN (tanh)",
    "rnn_relu": "Vanilla RNN (relu)",
    "lstm": "LSTM",
    "gru": "GRU",
}
CELL_SHORT_NAMES = {"rnn": "RNN", "rnn_relu": "RNN (ReLU)", "lstm": "LSTM", "gru": "GRU"}  # row labels


class CellParams(NamedTuple):
    """Weights of one recurrent layer in PyTorch's fused layout."""

    w_ih: jax.Array  # (G*H, I)
    w_hh: jax.Array  # (G*H, H)
    b_ih: jax.Array  # (G*H,)
    b_hh: jax.Array  # (G*H,)


MAX_LAYERS = 4  # the deepest stack rnnviz builds or loads (page bounds: layers × T × H)
DIRECTIONS = ("forward", "backward")  # index d of a Network's layers[k][d]


class Network(NamedTuple):
    """Weights of a stack of L layers of one cell, layer k with D_k directions (1 or 2) of
    H_k units each.

    ``layers[k][d]`` is the CellParams of layer k, direction d (0 forward, 1 backward), in
    PyTorch's layout: layer 0 reads the inputs (``w_ih (G*H_0, I)``), layer k > 0 reads the
    [forward, backward] outputs of layer k − 1 concatenated (``w_ih (G*H_k, D_{k−1}·H_{k−1})``),
    as ``torch.nn.LSTM(num_layers=L, bidirectional=True)`` and Keras ``Bidirectional`` do.
    PyTorch's stacks are uniform (every layer D directions of H units); Keras also stacks
    layers that differ, e.g. ``Bidirectional(LSTM(32, return_sequences=True))`` under
    ``LSTM(16)``: directions (2, 1), hidden sizes (32, 16).
    L, every D_k and every shape live in the pytree structure, so they are static under jit
    without a static argument. A single unidirectional layer is ``Network(((params,),))``,
    the same as passing its CellParams.
    """

    layers: tuple  # L tuples of D_k CellParams

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def directions(self) -> tuple:
        """(D_0, …, D_{L−1}): each layer's number of directions."""
        return tuple(len(layer) for layer in self.layers)

    @property
    def hidden_sizes(self) -> tuple:
        """(H_0, …, H_{L−1}): each layer's units per direction."""
        return tuple(layer[0].w_hh.shape[1] for layer in self.layers)

    @property
    def is_uniform(self) -> bool:
        """True when every layer has the same directions and units (any PyTorch stack): its
        per-layer results stack into (L, D, T, B, H) arrays."""
        return len(set(self.directions)) == 1 and len(set(self.hidden_sizes)) == 1

    @property
    def num_directions(self) -> int:
        """D of every layer of a uniform network; for a mixed one the most of any layer,
        so that 2 means "some layer reads the sequence backwards" (see `directions`)."""
        return max(self.directions)

    @property
    def hidden_size(self) -> int:
        """H of every layer of a uniform network; for a mixed one layer 0's (see
        `hidden_sizes`)."""
        return self.layers[0][0].w_hh.shape[1]

    @property
    def input_size(self) -> int:
        return self.layers[0][0].w_ih.shape[1]


def as_network(params) -> Network:
    """A Network for CellParams (one unidirectional layer) or a Network (as it is)."""
    if isinstance(params, Network):
        return params
    if isinstance(params, CellParams):
        return Network(((params,),))
    raise TypeError(f"expected CellParams or Network, got {type(params).__name__}")


def is_single_layer(params) -> bool:
    """True for one unidirectional layer, whose results keep the one-layer shapes (T, B, H)."""
    net = as_network(params)
    return net.num_layers == 1 and net.num_directions == 1


def check_network(cell: str, params) -> Network:
    """`params` as a Network, after checking that its layers fit together (ValueError if not):
    each layer's directions share its hidden size H_k, and its w_ih reads what the layer
    below outputs, D_{k−1}·H_{k−1} features (the inputs' I for layer 0)."""
    net = as_network(params)
    G = GATE_BLOCKS[check_cell(cell)]
    L = len(net.layers)
    if not 1 <= L <= MAX_LAYERS:
        raise ValueError(f"a network has 1 to {MAX_LAYERS} layers of 1 or 2 directions, "
                         f"got {L} layers")
    inputs = net.input_size
    for k, layer in enumerate(net.layers):
        if len(layer) not in (1, 2):
            raise ValueError(f"layer {k} has {len(layer)} directions; a layer has 1 or 2 "
                             "(forward, backward)")
        H = layer[0].w_hh.shape[1]
        for d, p in enumerate(layer):
            where = f"layer {k}, {DIRECTIONS[d]}"
            if tuple(p.w_hh.shape) != (G * H, H):
                raise ValueError(f"{where}: w_hh has shape {tuple(p.w_hh.shape)}; a {cell} "
                                 f"of hidden size {H} needs ({G * H}, {H})")
            if tuple(p.w_ih.shape) != (G * H, inputs):
                raise ValueError(f"{where}: w_ih has shape {tuple(p.w_ih.shape)}; expected "
                                 f"({G * H}, {inputs})")
            for name in ("b_ih", "b_hh"):
                if tuple(getattr(p, name).shape) != (G * H,):
                    raise ValueError(f"{where}: {name} has shape "
                                     f"{tuple(getattr(p, name).shape)}; expected ({G * H},)")
        inputs = len(layer) * H  # what layer k + 1 reads
    return net


def check_cell(cell: str) -> str:
    """Return `cell` if it names a known cell, else raise a ValueError that lists them."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    return cell


def init_carry(cell: str, h0: jax.Array) -> tuple:
    """The scan carry for a start state h0 (B, H): (h,), or (h, c) with c = 0 for the LSTM."""
    return (h0, jnp.zeros_like(h0)) if cell == "lstm" else (h0,)


def _affine(params, h, x):
    return x @ params.w_ih.T + params.b_ih, h @ params.w_hh.T + params.b_hh


def _perturb(state, eps):
    # The zero perturbation that makes jax.grad return dL/d(state) at every step (bptt.py).
    return state if eps is None else state + eps


def rnn_step(params, carry, x, eps=None, act=jnp.tanh):
    r"""Elman RNN, PyTorch ``nn.RNN``.

    .. math:: h_t = \mathrm{act}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    Args:
      params: CellParams with one gate block.
      carry: ``(h,)`` with h (B, H).
      x: (B, I).
      eps: optional ``(eps_h,)`` added to the new state, zero in value.
    Returns:
      ``((h,), {"h": h})``.
    """
    (h,) = carry
    xa, ha = _affine(params, h, x)
    h = act(xa + ha)
    h = _perturb(h, None if eps is None else eps[0])
    return (h,), {"h": h}


def rnn_relu_step(params, carry, x, eps=None):
    """Elman RNN with relu, PyTorch ``nn.RNN(nonlinearity="relu")``; see `rnn_step`."""
    return rnn_step(params, carry, x, eps, act=jax.nn.relu)


def lstm_step(params, carry, x, eps=None):
    r"""LSTM with forget gate (Hochreiter & Schmidhuber 1997; Gers et al. 2000), PyTorch form.

    .. math::
        i, f, o = \sigma(\cdot),\ g = \tanh(W_{i\cdot} x + b_{i\cdot} + W_{h\cdot} h + b_{h\cdot}) \\
        c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)

    Args:
      carry: ``(h, c)``, each (B, H).
      eps: optional ``(eps_h, eps_c)``. ``eps_c`` enters before h_t is formed, so the
        gradient with respect to it is the total derivative dL/dc_t, including the path
        through ``h_t = o * tanh(c_t)`` (what ``c_t.retain_grad()`` gives in PyTorch).
    Returns:
      ``((h, c), {"h", "i", "f", "g", "o", "c"})``.
    """
    h, c = carry
    xa, ha = _affine(params, h, x)
    # PyTorch and Keras fused gate order: i, f, g, o.
    i, f, g, o = jnp.split(xa + ha, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c = f * c + i * g
    c = _perturb(c, None if eps is None else eps[1])
    h = o * jnp.tanh(c)
    h = _perturb(h, None if eps is None else eps[0])
    return (h, c), {"h": h, "i": i, "f": f, "g": g, "o": o, "c": c}


def gru_step(params, carry, x, eps=None):
    r"""GRU (Cho et al. 2014) in PyTorch's form, = Keras ``reset_after=True``.

    .. math::
        r, z = \sigma(\cdot), \quad n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h_t = (1 - z) \odot n + z \odot h_{t-1}

    The reset gate multiplies ``W_hn h + b_hn`` after the matrix product; Cho's paper applies
    it before (``W_hn (r * h)``), which is a different model.
    """
    (h,) = carry
    xa, ha = _affine(params, h, x)
    # PyTorch fused gate order: r, z, n (Keras uses z, r, h).
    xr, xz, xn = jnp.split(xa, 3, axis=-1)
    hr, hz, hn = jnp.split(ha, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h
    h = _perturb(h, None if eps is None else eps[0])
    return (h,), {"h": h, "r": r, "z": z, "n": n}


STEPS = {"rnn": rnn_step, "rnn_relu": rnn_relu_step, "lstm": lstm_step, "gru": gru_step}
