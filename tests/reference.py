"""Independent NumPy float64 reference for the four cells, written from REFERENCES.md.

Deliberately naive: a Python loop over time, one line per equation, no rnnviz imports.
Weights use PyTorch's fused layout: ``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih, b_hh (G*H,)``;
gate order LSTM i, f, g, o; GRU r, z, n. `reference_stack` stacks layers and directions as
PyTorch does; `reference_keras` computes Keras's layers from Keras's own arrays and gate
orders (batch-major), without any conversion to the PyTorch layout.
"""
import numpy as np

GATES = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def relu(a):
    return np.maximum(a, 0.0)


def _blocks(w, G):
    """Split a fused (G*H, ...) array into its G gate blocks."""
    H = w.shape[0] // G
    return [w[k * H:(k + 1) * H] for k in range(G)]


def reference_unroll(cell, w_ih, w_hh, b_ih, b_hh, xs, h0=None, c0=None, eps_h=None, eps_c=None):
    """Run `cell` over xs (T, B, I) in float64.

    eps_h, eps_c: optional (T, B, H) perturbations added to h_t (and the LSTM's c_t, before
    h_t is formed from it) as they are computed, for finite differences of ∂L/∂h_t.
    Returns:
      hs (T, B, H) and a dict of (T, B, H) arrays: LSTM "i", "f", "g", "o", "c";
      GRU "r", "z", "n"; empty for the vanilla cells.
    """
    G = GATES[cell]
    w_ih, w_hh, b_ih, b_hh, xs = (np.asarray(a, np.float64) for a in (w_ih, w_hh, b_ih, b_hh, xs))
    T, B, _ = xs.shape
    H = w_hh.shape[1]
    assert w_hh.shape == (G * H, H) and w_ih.shape[0] == G * H
    h = np.zeros((B, H)) if h0 is None else np.array(h0, np.float64)
    c = np.zeros((B, H)) if c0 is None else np.array(c0, np.float64)
    Wi, Wh, bi, bh = (_blocks(a, G) for a in (w_ih, w_hh, b_ih, b_hh))

    def pre_x(k, x):  # W_i? x + b_i?
        return x @ Wi[k].T + bi[k]

    def pre_h(k, h):  # W_h? h + b_h?
        return h @ Wh[k].T + bh[k]

    hs = []
    names = {"rnn": (), "rnn_relu": (), "lstm": ("i", "f", "g", "o", "c"), "gru": ("r", "z", "n")}
    gates = {name: [] for name in names[cell]}
    for t in range(T):
        x = xs[t]
        if cell == "rnn":
            h = np.tanh(pre_x(0, x) + pre_h(0, h))
        elif cell == "rnn_relu":
            h = relu(pre_x(0, x) + pre_h(0, h))
        elif cell == "lstm":
            i = sigmoid(pre_x(0, x) + pre_h(0, h))
            f = sigmoid(pre_x(1, x) + pre_h(1, h))
            g = np.tanh(pre_x(2, x) + pre_h(2, h))
            o = sigmoid(pre_x(3, x) + pre_h(3, h))
            c = f * c + i * g
            if eps_c is not None:
                c = c + eps_c[t]
            h = o * np.tanh(c)
            for name, v in zip("ifgoc", (i, f, g, o, c)):
                gates[name].append(v)
        elif cell == "gru":
            r = sigmoid(pre_x(0, x) + pre_h(0, h))
            z = sigmoid(pre_x(1, x) + pre_h(1, h))
            n = np.tanh(pre_x(2, x) + r * pre_h(2, h))
            h = (1.0 - z) * n + z * h
            for name, v in zip("rzn", (r, z, n)):
                gates[name].append(v)
        else:
            raise ValueError(cell)
        if eps_h is not None:
            h = h + eps_h[t]
        hs.append(h)
    return np.stack(hs), {k: np.stack(v) for k, v in gates.items()}


def reference_stack(cell, layers, xs, h0=None, c0=None, eps_h=None, eps_c=None):
    """A stack of layers of 1 or 2 directions, as torch.nn.RNN/LSTM/GRU(num_layers, bidirectional).

    Args:
      layers: layers[k][d] = (w_ih, w_hh, b_ih, b_hh) of layer k, direction d (0 forward,
        1 backward); layer k > 0 reads [forward, backward] of layer k − 1 concatenated.
      xs: (T, B, I). h0, c0: None or (L·D, B, H), torch's order (layer 0 fwd, layer 0 bwd, ...).
      eps_h, eps_c: None or eps[k][d] (T, B, H), indexed by input position t (see
        `reference_unroll`).
    Returns:
      output (T, B, D·H) of the top layer; hs[k][d] (T, B, H) and gates[k][d] (dicts),
      the backward direction's indexed by input position t (it has read x_{T−1} … x_t).
    """
    D = len(layers[0])
    inputs = np.asarray(xs, np.float64)
    all_hs, all_gates = [], []
    for k, layer in enumerate(layers):
        hs_k, gates_k = [], []
        for d, weights in enumerate(layer):
            flip = (lambda a: a[::-1]) if d == 1 else (lambda a: a)
            start = {name: None if a is None else a[k * D + d] for name, a in (("h0", h0), ("c0", c0))}
            eps = {name: None if e is None else flip(np.asarray(e[k][d], np.float64))
                   for name, e in (("eps_h", eps_h), ("eps_c", eps_c))}
            hs, gates = reference_unroll(cell, *weights, flip(inputs), **start, **eps)
            hs_k.append(flip(hs))
            gates_k.append({name: flip(v) for name, v in gates.items()})
        all_hs.append(hs_k)
        all_gates.append(gates_k)
        inputs = np.concatenate(hs_k, axis=-1)
    return inputs, all_hs, all_gates


def _keras_direction(cell, kernel, recurrent_kernel, bias, x):
    """One Keras layer over x (B, T, I) in Keras's own layout; returns (B, T, H)."""
    kernel, recurrent_kernel, bias, x = (np.asarray(a, np.float64) for a in (kernel, recurrent_kernel, bias, x))
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    out = []
    for t in range(T):
        xt = x[:, t]
        if cell in ("rnn", "rnn_relu"):
            a = xt @ kernel + h @ recurrent_kernel + bias
            h = np.tanh(a) if cell == "rnn" else relu(a)
        elif cell == "lstm":  # Keras gate order i, f, c, o
            a = xt @ kernel + h @ recurrent_kernel + bias
            i, f, cc, o = (a[:, j * H:(j + 1) * H] for j in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
        elif cell == "gru":  # reset_after=True, Keras gate order z, r, h; bias (2, 3H)
            mx = xt @ kernel + bias[0]
            mh = h @ recurrent_kernel + bias[1]
            z = sigmoid(mx[:, :H] + mh[:, :H])
            r = sigmoid(mx[:, H:2 * H] + mh[:, H:2 * H])
            hh = np.tanh(mx[:, 2 * H:] + r * mh[:, 2 * H:])
            h = z * h + (1.0 - z) * hh
        else:
            raise ValueError(cell)
        out.append(h)
    return np.stack(out, axis=1)


def reference_keras(cell, weights, x):
    """Keras's stacked (Bidirectional) SimpleRNN / LSTM / GRU over x (B, T, I), batch-major.

    Args:
      weights: per layer, its get_weights() list: 3 arrays, or 6 for Bidirectional
        (forward's then backward's; the backward layer reads the sequence reversed and its
        output is re-reversed, merge_mode "concat").
    Returns:
      (B, T, D·H) output of the top layer (return_sequences=True).
    """
    for arrays in weights:
        outs = [_keras_direction(cell, *arrays[:3], x)]
        if len(arrays) == 6:
            outs.append(_keras_direction(cell, *arrays[3:], x[:, ::-1])[:, ::-1])
        x = np.concatenate(outs, axis=-1)
    return x
