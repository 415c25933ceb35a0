"""One layer and direction of a student's uploaded model, as the single-layer pages show it.

Gradient flow, Gate activations, Why it vanishes and Connectivity analyse one recurrent
layer. For a stack or a bidirectional model the student picks a layer k and a direction d;
this module runs the model's layers below k forward on the page's inputs, so that layer k
reads what it reads inside the model (the [forward, backward] outputs of layer k − 1
concatenated), and hands the pages that layer as a one-layer cell on those inputs. The
backward direction reads the sequence from its end, so its inputs are given reversed: its
step t reads input position T − 1 − t, and the pages count steps in its reading order.

Pure functions: numpy in and out, no Streamlit.
"""
from dataclasses import dataclass

import numpy as np

from rnnviz.engine.bptt import unroll
from rnnviz.engine.cells import CellParams, Network, as_network

CELL_WORDS = {"rnn": "RNN", "rnn_relu": "RNN (relu)", "lstm": "LSTM", "gru": "GRU"}
ARROWS = ("→", "←")


def network(model) -> Network:
    """The model's weights as a cells.Network (one layer is a Network of one)."""
    return as_network(model.params)


def layer_shape(model) -> tuple[tuple, tuple]:
    """((D_0, …, D_{L−1}), (H_0, …, H_{L−1})): each layer's directions and units."""
    net = network(model)
    return net.directions, net.hidden_sizes


def is_one_layer(model) -> bool:
    """True when the model has one recurrent layer reading one way: nothing to choose."""
    directions, _ = layer_shape(model)
    return directions == (1,)


def model_words(model) -> str:
    """What the model is, in a few words, from its shape only (no text from the file):
    "2-layer GRU", "bidirectional LSTM", "2-layer LSTM (bidirectional, then one-way)"."""
    directions, sizes = layer_shape(model)
    L, kind = len(directions), CELL_WORDS[model.cell]
    depth = f"{L}-layer " if L > 1 else ""
    if len(set(directions)) == 1:
        return depth + ("bidirectional " if directions[0] == 2 else "") + kind
    ways = ", then ".join("bidirectional" if D == 2 else "one-way" for D in directions)
    return f"{depth}{kind} ({ways})"


def choices(model) -> list[tuple[int, int]]:
    """Every (layer, direction) the student can pick, layer 1 forward first."""
    directions, _ = layer_shape(model)
    return [(k, d) for k, D in enumerate(directions) for d in range(D)]


def default_choice(model) -> tuple[int, int]:
    """The top layer's forward direction: the layer the model's own output comes from."""
    return (len(layer_shape(model)[0]) - 1, 0)


def choice_label(model, choice: tuple[int, int]) -> str:
    """A menu entry: "layer 2 of 2, backward (←), H = 32"."""
    k, d = choice
    directions, sizes = layer_shape(model)
    text = f"layer {k + 1} of {len(directions)}"
    if directions[k] == 2:
        text += ", forward (→)" if d == 0 else ", backward (←)"
    return text + f", H = {sizes[k]}"


def view_title(model, choice: tuple[int, int]) -> str:
    """Which part of the student's model a page shows, for its headline:
    "Your 2-layer GRU, layer 2 of 2" or "Your model (LSTM)"."""
    k, d = choice
    directions, _ = layer_shape(model)
    if is_one_layer(model):
        return f"Your {model_words(model)}"
    text = f"Your {model_words(model)}, layer {k + 1} of {len(directions)}"
    if directions[k] == 2:
        text += ", forward direction (→)" if d == 0 else ", backward direction (←)"
    return text


def inputs_sentence(model, choice: tuple[int, int] | None = None) -> str:
    """Which inputs a view of the model uses, said in full (every page that shows it)."""
    if model.embedding is not None:
        V, E = model.embedding.shape
        text = (f"Inputs: random token ids, uniform over the {V} ids of its Embedding, turned "
                f"into vectors of {E} numbers by its own Embedding weights (a model that reads "
                "words reads ids, not noise).")
    else:
        text = (f"Inputs: Gaussian noise, one vector of its input size I = {model.input_size} "
                "per step.")
    if choice is None:
        return text
    k, d = choice
    directions, sizes = layer_shape(model)
    if k > 0:
        width = directions[k - 1] * sizes[k - 1]
        below = "layer 1" if k == 1 else f"layers 1 to {k}"
        text += (f" Layer {k + 1} reads what it reads inside your model: {below} run on those "
                 f"inputs, and the outputs of layer {k} side by side ({width} numbers per step).")
    if d == 1:
        text += (" The backward direction reads the sequence from its end, so here step t is "
                 "its t-th step: it reads input position T − 1 − t.")
    return text


@dataclass(frozen=True)
class LayerView:
    """One layer and direction of a model as a one-layer cell on its own inputs."""

    cell: str
    hidden_size: int
    params: CellParams
    xs: np.ndarray  # (padded, B, I_k) float32: what this layer reads, in its reading order
    title: str  # view_title
    inputs: str  # inputs_sentence


def layer_inputs(model, xs: np.ndarray, T: int, choice: tuple[int, int]) -> np.ndarray:
    """What layer k, direction d reads inside the model, given the model's inputs.

    Args:
      xs: (padded, B, I) the model's inputs, steps from T on padding.
      T: number of real steps.
      choice: (k, d).
    Returns:
      (padded, B, I_k) float32: the model's inputs for k = 0, else the [forward, backward]
      outputs of layer k − 1 of the model run on xs; reversed in time over the first T
      steps for the backward direction (d = 1); steps from T on are zeros.
    """
    k, d = choice
    xs = np.asarray(xs, np.float32)
    padded = xs.shape[0]
    if k == 0:
        u = xs[:T]
    else:
        below = Network(network(model).layers[:k])
        hs = unroll(model.cell, below, xs, length=T)[0]  # the layers below, padded run
        u = np.asarray(hs, np.float32)[:T]
    if d == 1:
        u = u[::-1]
    out = np.zeros((padded,) + u.shape[1:], np.float32)
    out[:T] = u
    return out


def layer_view(model, xs: np.ndarray, T: int, choice: tuple[int, int]) -> LayerView:
    """Layer k, direction d of the model and what it reads, for the single-layer pages
    (`one_layer.gradient_flow(config, view.params, view.xs)` and the like)."""
    k, d = choice
    if choice not in choices(model):
        raise ValueError(f"the model has no layer {k + 1}, direction {d}")
    params = network(model).layers[k][d]
    params = CellParams(*(np.asarray(a, np.float32) for a in params))
    return LayerView(model.cell, int(params.w_hh.shape[1]), params,
                     layer_inputs(model, xs, T, choice), view_title(model, choice),
                     inputs_sentence(model, choice))
