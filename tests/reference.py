"""Independent NumPy float64 reference for the four cells, written from REFERENCES.md.

Deliberately naive: a Python loop over time, one line per equation, no rnnviz imports.
Weights use PyTorch's fused layout: ``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih, b_hh (G*H,)``;
gate order LSTM i, f, g, o; GRU r, z, n.
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


def reference_unroll(cell, w_ih, w_hh, b_ih, b_hh, xs, h0=None, c0=None):
    """Run `cell` over xs (T, B, I) in float64.

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
        hs.append(h)
    return np.stack(hs), {k: np.stack(v) for k, v in gates.items()}
