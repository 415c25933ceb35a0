"""Trained recurrent networks from users' files: a PyTorch ``state_dict`` (.safetensors, .npz)
or a Keras 3 ``.keras`` file. The files are data, never code: no pickle, bounded sizes,
names and shapes checked before anything is built (DESIGN.md, "Files from users")."""
import io
import json
import math
import re
import zipfile
from typing import Any, NamedTuple

import h5py
import numpy as np
import safetensors.numpy

from rnnviz.engine.cells import CELL_LABELS, GATE_BLOCKS, MAX_LAYERS
from rnnviz.engine.init import from_keras, from_torch

# Bounds for a shared server. MB as Streamlit counts it (server.maxUploadSize).
MB = 2**20
MAX_BYTES = 50 * MB
MAX_UNZIPPED_BYTES = 2 * MAX_BYTES  # all members of a .keras or .npz zip, once decompressed
MAX_CONFIG_BYTES = 1 * MB  # a .keras file's config.json
MAX_HIDDEN = 512  # H; the deepest stack is cells.MAX_LAYERS

EXTENSIONS = (".safetensors", ".npz", ".keras")
EXPECTED = ("a PyTorch state_dict saved as .safetensors or .npz, "
            "or a Keras 3 model saved as .keras")
CELL_OF_GATES = {1: "rnn", 3: "gru", 4: "lstm"}
# A Dense head's activations that rnnviz reads: its output is then probabilities (or logits,
# read as probabilities), so ℓ = −log p(target) is defined (rnnviz.experiments.words).
HEAD_ACTIVATIONS = ("sigmoid", "softmax", "linear")
# Rows of a Dense head: a next-word model over a large vocabulary has one per word.
MAX_HEAD_OUTPUTS = 100_000


class Head(NamedTuple):
    """The Dense layer on the top recurrent layer: what turns its output into predictions."""

    # (O, F) float32: F = the top recurrent layer's output width (all its directions,
    # concatenated as Keras does)
    w: np.ndarray
    b: np.ndarray  # (O,)
    activation: str  # "sigmoid", "softmax" or "linear" (Keras "linear"/None)
    every_step: bool  # the Dense reads every step (the top layer has return_sequences=True)


class LoadedModel(NamedTuple):
    """A recurrent network read from a file, in rnnviz's (PyTorch) layout.

    A PyTorch module is uniform (every layer D directions of H units); a Keras stack may
    mix them, e.g. Bidirectional(LSTM(32, return_sequences=True)) under LSTM(16):
    directions (2, 1), hidden_sizes (32, 16), bidirectional True, hidden_size 32.
    """

    cell: str  # one of CELLS; "rnn" for any 1-gate torch file (tanh and relu look alike)
    layers: int  # L, stacked recurrent layers
    bidirectional: bool  # True when some layer (every layer, for torch) has two directions
    hidden_size: int  # H per direction of every layer; for a mixed stack the first layer's
    input_size: int  # I of the first layer (= E when `embedding` is given)
    params: Any  # CellParams or cells.Network, as from_torch / from_keras return
    embedding: np.ndarray | None  # (V, E) float32: a leading Keras Embedding; inputs are token ids
    source: str  # what was read, in words, for the UI
    # What the framework outputs from the top recurrent layer. True: every step's
    # [forward_t, backward_t] (torch's `output`, Keras return_sequences=True). False (Keras
    # return_sequences=False): one vector, the final state of each direction: the forward
    # state after x_{T−1} and the backward state after x_0 (`reads_final_states`).
    returns_sequences: bool = True
    directions: tuple = ()  # (D_0, …, D_{L−1}), layer 0 first
    hidden_sizes: tuple = ()  # (H_0, …, H_{L−1}), units per direction
    framework: str = ""  # "keras" or "pytorch": whose reading of the output applies
    # The Dense head of a Keras file (None: none in the file, or a torch state_dict, whose
    # head is code rnnviz does not see). With `embedding`, what `words.explain` needs.
    head: Head | None = None

    @property
    def is_uniform(self) -> bool:
        """Every layer has the same directions and units (any torch file): results per layer
        stack into (L, D, T, B, H) arrays; a mixed Keras stack's come per layer."""
        return len(set(self.directions)) <= 1 and len(set(self.hidden_sizes)) <= 1

    @property
    def reads_final_states(self) -> bool:
        """True when the framework's output of the top layer is [forward after the last
        step, backward after x_0], not a pair at one step: a Keras Bidirectional top layer
        with return_sequences=False."""
        return not self.returns_sequences and self.directions[-1:] == (2,)


def load_model_file(name: str, data: bytes) -> LoadedModel:
    """Read a trained network from an uploaded file.

    Args:
      name: the file's name; its extension says the format (.safetensors, .npz, .keras).
      data: the file's bytes, at most `MAX_BYTES`.
    Returns:
      a LoadedModel. A 1-gate PyTorch file comes back as ``cell="rnn"``: tanh and relu have
      the same weights, so let the user choose (``loaded._replace(cell="rnn_relu")``).
    Raises:
      ValueError: with a message that says what was expected, for anything that is not one
        of the supported networks within the bounds.
    """
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in EXTENSIONS:
        raise ValueError(f"{name!r} is not a model file rnnviz reads: expected {EXPECTED}.")
    if len(data) > MAX_BYTES:
        size = math.ceil(len(data) / MB * 10) / 10  # never shown as exactly the limit
        raise ValueError(f"{name!r} is {size:.1f} MB, over the {MAX_BYTES // MB} MB limit for "
                         "model files.")
    if ext == ".keras":
        return _load_keras(data)
    arrays = _read_safetensors(data) if ext == ".safetensors" else _read_npz(data)
    return _load_state_dict(arrays, ext)


# ---------------------------------------------------------------------------------------
# Containers


def _read_safetensors(data: bytes) -> dict:
    try:
        return safetensors.numpy.load(bytes(data))
    except Exception as err:  # the Rust parser's SafetensorError, or an unknown dtype
        raise ValueError(f"not a readable .safetensors file ({err}); expected "
                         "safetensors.torch.save_file(model.state_dict(), ...).") from None


def _open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise ValueError(f"not a readable {what} file: the zip archive is corrupt.") from None
    # Sizes from the archive's directory; reading a member stops at its stated size.
    if sum(info.file_size for info in infos) > MAX_UNZIPPED_BYTES:
        raise ValueError(f"the {what} file unpacks to more than {MAX_UNZIPPED_BYTES // MB} MB.")
    return zf


def _read_member(zf: zipfile.ZipFile, member: str, what: str) -> bytes:
    try:
        with zf.open(member) as f:
            return f.read()
    except KeyError:
        raise ValueError(f"the {what} file has no {member}.") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise ValueError(f"not a readable {what} file: {member} is corrupt ({err}).") from None


def _read_npz(data: bytes) -> dict:
    """The arrays of an .npz file, each header checked before its data is allocated."""
    zf = _open_zip(data, ".npz")
    arrays = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"the .npz file holds {info.filename!r}, which is not an array; "
                             "expected np.savez(path, **state_dict).")
        arrays[info.filename[:-4]] = _npz_member(zf, info)
    return arrays


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


def _npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    def corrupt(why):
        return ValueError(f"not a readable .npz file: {info.filename} is corrupt ({why}); "
                          "expected numeric arrays saved with np.savez.")

    errors = (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError)
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in _NPY_HEADERS:
                raise ValueError(f"npy format version {version}")
            shape, _, dtype = _NPY_HEADERS[version](f)
    except errors as err:
        raise corrupt(err) from None
    if dtype.hasobject:
        raise ValueError(f"{info.filename} in the .npz file is an array of Python objects "
                         "(a pickle), which rnnviz never loads; expected numeric arrays.")
    # A header may claim more data than there is: check before allocating it.
    if np.prod(shape, dtype=np.int64) * dtype.itemsize > info.file_size:
        raise corrupt("its header claims more data than the file holds")
    try:
        with zf.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except errors as err:
        raise corrupt(err) from None


def _float32(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} has dtype {a.dtype}; expected floating-point weights.")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values; expected finite weights "
                         "(did the training diverge?).")
    return a


def _bounds(layers: int, hidden_size: int) -> None:
    if layers > MAX_LAYERS:
        raise ValueError(f"the network has {layers} recurrent layers; this server analyses "
                         f"at most {MAX_LAYERS}.")
    if hidden_size > MAX_HIDDEN:
        raise ValueError(f"the hidden size is H = {hidden_size}; this server analyses at most "
                         f"H = {MAX_HIDDEN}.")


def _shape(a) -> str:
    return "(" + ", ".join(str(n) for n in a.shape) + ")"


# ---------------------------------------------------------------------------------------
# PyTorch state_dict

# torch.nn.RNN / LSTM / GRU parameter names, after an optional module prefix ("rnn.").
_TORCH_NAME = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?")


def _load_state_dict(arrays: dict, ext: str) -> LoadedModel:
    """Find the one recurrent module in a state_dict and check its names and shapes."""
    def split(name):  # "a.rnn.weight_ih_l0" -> ("a.rnn.", "weight_ih_l0")
        head, _, tail = name.rpartition(".")
        return (head + "." if head else ""), tail

    prefixes = sorted({split(n)[0] for n in arrays if _TORCH_NAME.fullmatch(split(n)[1])})
    if not prefixes:
        raise ValueError("no recurrent weights found: expected torch names such as "
                         "weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 (nn.RNN, nn.LSTM "
                         f"or nn.GRU), found {_list(arrays)}.")
    if len(prefixes) > 1:
        raise ValueError("the file holds recurrent weights of several modules ("
                         + ", ".join(repr(p[:-1]) for p in prefixes)
                         + "); expected one nn.RNN, nn.LSTM or nn.GRU.")
    prefix = prefixes[0]
    own = {split(n)[1]: a for n, a in arrays.items() if split(n)[0] == prefix}
    others = sorted(n for n in arrays if split(n)[0] != prefix)
    for tail in own:
        if tail.startswith("weight_hr_l"):
            raise ValueError(f"{prefix}{tail} belongs to an LSTM with proj_size, another "
                             "model than rnnviz's LSTM.")
        if not _TORCH_NAME.fullmatch(tail):
            raise ValueError(f"unexpected name {prefix}{tail} in the recurrent module; expected "
                             "only weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} "
                             "(and _reverse).")

    parsed = {tail: _TORCH_NAME.fullmatch(tail).groups() for tail in own}
    L = 1 + max(int(layer) for _, _, layer, _ in parsed.values())
    D = 2 if any(rev for *_, rev in parsed.values()) else 1
    has_bias = any(kind == "bias" for kind, *_ in parsed.values())
    _bounds(L, 0)
    suffixes = ("", "_reverse")[:D]
    kinds = ("weight", "bias") if has_bias else ("weight",)
    expected = [f"{kind}_{m}_l{k}{s}" for k in range(L) for s in suffixes
                for kind in kinds for m in ("ih", "hh")]
    missing = [prefix + t for t in expected if t not in own]
    if missing:
        raise ValueError(f"missing {_list(missing)}: a {L}-layer network has {prefix}"
                         f"weight_ih_l{{k}}, weight_hh_l{{k}}"
                         + (", bias_ih_l{k}, bias_hh_l{k}" if has_bias else "")
                         + f" for k = 0 to {L - 1}"
                         + (", each also with _reverse" if D == 2 else "") + ".")

    own = {tail: _float32(prefix + tail, a) for tail, a in own.items()}
    G, H = _gates_and_hidden(prefix + "weight_hh_l0", own["weight_hh_l0"])
    _bounds(L, H)
    w_ih = own["weight_ih_l0"]
    if w_ih.ndim != 2 or w_ih.shape[0] != G * H or w_ih.shape[1] == 0:
        raise ValueError(f"{prefix}weight_ih_l0 has shape {_shape(w_ih)}; expected "
                         f"({G * H}, I), (G·H, I) for inputs of size I.")
    input_size = w_ih.shape[1]
    for k in range(L):
        for s in suffixes:
            _torch_shapes(own, prefix, k, s, G, H, (G * H, input_size if k == 0 else D * H),
                          has_bias)
    cell = CELL_OF_GATES[G]
    params = from_torch(cell, own)

    fmt = "safetensors" if ext == ".safetensors" else "npz"
    where = f", names under {prefix[:-1]!r}" if prefix else ""
    text = (f"PyTorch state_dict (.{fmt}): {_network_words(cell, L, D == 2)}, "
            f"H = {H}, I = {input_size}{where}")
    if G == 1:
        text += ("; tanh or relu cannot be told from the weights: tanh is assumed, choose "
                 "relu if the model was built with nonlinearity='relu'")
    if others:
        text += f"; also in the file, not used: {_list(others)}"
    # A state_dict holds no head code, so how the head read the module is unknown: rnnviz
    # reads `output` (every step's [forward_t, backward_t]), the module's first result; a
    # head on h_n would read the backward state after x_0 instead (deep says which).
    return LoadedModel(cell, L, D == 2, H, input_size, params, None, text,
                       returns_sequences=True, directions=(D,) * L, hidden_sizes=(H,) * L,
                       framework="pytorch")


def _gates_and_hidden(name: str, w_hh: np.ndarray) -> tuple[int, int]:
    rows, cols = (w_hh.shape + (0, 0))[:2]
    if w_hh.ndim != 2 or cols == 0 or rows % cols or rows // cols not in CELL_OF_GATES:
        raise ValueError(f"{name} has shape {_shape(w_hh)}; expected (G·H, H) with G = 1 (RNN), "
                         "3 (GRU) or 4 (LSTM).")
    return rows // cols, cols


def _torch_shapes(own, prefix, k, s, G, H, w_ih_shape, has_bias):
    """Check one direction of one layer against the cell found in weight_hh_l0."""
    name = f"weight_hh_l{k}{s}"
    g, h = _gates_and_hidden(prefix + name, own[name])
    if g != G:
        raise ValueError(f"mixed cells in one stack: {prefix}weight_hh_l0 is a "
                         f"{CELL_LABELS[CELL_OF_GATES[G]]}, {prefix}{name} a "
                         f"{CELL_LABELS[CELL_OF_GATES[g]]}; expected one cell in every layer.")
    if h != H:
        raise ValueError(f"{prefix}{name} has shape {_shape(own[name])}; expected "
                         f"({G * H}, {H}) as in weight_hh_l0.")
    w_ih = own[f"weight_ih_l{k}{s}"]
    if w_ih.shape != w_ih_shape:
        reads = "the inputs" if k == 0 else f"layer {k - 1}'s outputs, D·H = {w_ih_shape[1]}"
        raise ValueError(f"{prefix}weight_ih_l{k}{s} has shape {_shape(w_ih)}; expected "
                         f"{w_ih_shape}: (G·H, features it reads), it reads {reads}.")
    for m in ("ih", "hh") if has_bias else ():
        b = own[f"bias_{m}_l{k}{s}"]
        if b.shape != (G * H,):
            raise ValueError(f"{prefix}bias_{m}_l{k}{s} has shape {_shape(b)}; "
                             f"expected ({G * H},).")


def _list(names, most=6) -> str:
    names = sorted(names)
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "") or "nothing"


def _network_words(cell: str, layers: int, bidirectional: bool) -> str:
    kind = {"rnn": "RNN", "rnn_relu": "RNN (relu)", "lstm": "LSTM", "gru": "GRU"}[cell]
    return (f"{layers}-layer " if layers > 1 else "") + \
        ("bidirectional " if bidirectional else "") + kind


# ---------------------------------------------------------------------------------------
# Keras 3 .keras files

_RECURRENT = ("SimpleRNN", "LSTM", "GRU")
_SUPPORTED = ("InputLayer", "Embedding", *_RECURRENT, "Bidirectional", "Dropout", "Dense")


def _snake_case(name: str) -> str:
    """Keras's own naming of a layer's group in model.weights.h5 (keras.src.utils.naming)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _load_keras(data: bytes) -> LoadedModel:
    zf = _open_zip(data, ".keras")
    info = {i.filename: i for i in zf.infolist()}.get("config.json")
    if info is not None and info.file_size > MAX_CONFIG_BYTES:
        raise ValueError(f"the .keras file's config.json is over {MAX_CONFIG_BYTES // MB} MB.")
    try:
        config = json.loads(_read_member(zf, "config.json", ".keras"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("not a readable .keras file: config.json is not JSON.") from None
    plan = _keras_plan(config)
    weights = _read_member(zf, "model.weights.h5", ".keras")
    try:
        with h5py.File(io.BytesIO(weights), "r") as f:
            arrays = _keras_arrays(f, plan)
    except OSError as err:  # h5py's word for a file it cannot parse
        raise ValueError(f"not a readable .keras file: model.weights.h5 is corrupt "
                         f"({err}).") from None
    return _keras_model(plan, arrays)


def _keras_plan(config) -> list[dict]:
    """The model's layers from config.json, checked, each with its group in model.weights.h5.

    Returns a list of dicts: kind ("embedding", "recurrent", "dense", "skip"), label, path,
    and for recurrent layers cell, units, use_bias, bidirectional.
    """
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        kind = config.get("class_name") if isinstance(config, dict) else None
        raise ValueError(f"the .keras file holds a {kind or 'model of unknown kind'}; expected a "
                         "keras.Sequential model: Input, optional Embedding, recurrent layers, "
                         "Dense.")
    inner = config.get("config")
    specs = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(specs, list):
        raise ValueError("not a readable .keras file: config.json has no list of layers.")
    plan, used, stage = [], {}, "start"  # start -> embedding -> recurrent -> head
    for spec in specs:
        cls, cfg = _class_and_config(spec)
        name = cfg.get("name", cls)
        if cls == "TextVectorization":
            raise ValueError(f"layer {name!r} is a TextVectorization: rnnviz reads the model from "
                             "its Embedding on, and the words from a vocabulary file. Save the "
                             "model without it, and its vocabulary with "
                             "'\\n'.join(layer.get_vocabulary()).")
        if cls not in _SUPPORTED:
            raise ValueError(f"layer {name!r} is a {cls}, another model: rnnviz reads "
                             "Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dropout and Dense.")
        if cls == "InputLayer":
            continue  # not among model.layers, so no group in the weights file
        group = _snake_case(cls)
        used[group] = used.get(group, -1) + 1
        path = "layers/" + group + (f"_{used[group]}" if used[group] else "")
        if cls == "Dropout":
            plan.append({"kind": "skip", "label": f"Dropout({cfg.get('rate', '?')})", "path": path})
        elif cls == "Embedding":
            if stage != "start":
                raise ValueError(f"layer {name!r}: an Embedding is read only as the first layer.")
            V, E = _positive(cfg, "input_dim", name), _positive(cfg, "output_dim", name)
            plan.append({"kind": "embedding", "label": f"Embedding({V}→{E})", "path": path,
                         "V": V, "E": E, "mask_zero": bool(cfg.get("mask_zero"))})
            stage = "embedding"
        elif cls == "Dense":
            if stage != "recurrent" and stage != "head":
                raise ValueError(f"layer {name!r}: a Dense layer before the recurrent layers is "
                                 "another model; expected Input, optional Embedding, recurrent "
                                 "layers, Dense.")
            units = _positive(cfg, "units", name)
            plan.append({"kind": "dense", "label": f"Dense({units})", "path": path,
                         "units": units, "use_bias": cfg.get("use_bias", True) is not False,
                         "name": name, "activation": _activation_name(cfg.get("activation"))})
            stage = "head"
        else:
            if stage == "head":
                raise ValueError(f"layer {name!r}: a recurrent layer after a Dense layer is "
                                 "another model; expected the recurrent layers to follow each "
                                 "other.")
            plan.append(_recurrent_plan(cls, cfg, name, path))
            stage = "recurrent"
    recurrent = [p for p in plan if p["kind"] == "recurrent"]
    if not recurrent:
        raise ValueError("the Keras model has no recurrent layer; expected SimpleRNN, LSTM, GRU "
                         "or Bidirectional.")
    first = recurrent[0]
    # Layers may differ in directions and units (Keras stacks Bidirectional under one-way
    # layers, cells.Network reads that); one cell runs in every layer.
    for p in recurrent[1:]:
        if p["cell"] != first["cell"]:
            raise ValueError(f"mixed cells in one stack: {first['label']} then {p['label']}; "
                             "rnnviz's networks have one cell in every layer.")
    for p in recurrent[:-1]:
        if not p["return_sequences"]:
            raise ValueError(f"{p['label']} feeds another recurrent layer but has "
                             "return_sequences=False.")
    _bounds(len(recurrent), max(p["units"] for p in recurrent))
    top = recurrent[-1]
    _check_head([p for p in plan if p["kind"] == "dense"],
                top["units"] * (2 if top["bidirectional"] else 1))
    return plan


def _activation_name(value) -> str:
    """A Dense config's activation as a name: Keras writes a built-in one as its name
    ("linear" for none); a custom one as a dict, named here by what it holds."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("config")
        return str(inner if isinstance(inner, str) else value.get("class_name", "custom"))
    return "custom"


def _dense_words(p: dict) -> str:
    """A Dense layer for a message: "'dense_1' Dense(64, relu)"."""
    return f"{p['name']!r} Dense({p['units']}, {p['activation']})"


def _check_head(dense: list[dict], width: int) -> None:
    """At most one Dense, on the top recurrent layer, with an activation whose output reads
    as probabilities, is read as the model's head (explain's loss −log p(target) needs the
    model's output to be that layer's). Other Dense layers (a Dense(64, relu) → Dense(1)
    head: a hidden layer between the recurrence and the output) are left unread, with a
    note: the recurrent layers are still the student's, and the other pages show them."""
    reason = None
    if len(dense) > 1:
        chain = " → ".join(_dense_words(p) for p in dense)
        reason = (f"its {len(dense)} Dense layers ({chain}) are not read: rnnviz reads one "
                  f"Dense layer on the top recurrent layer, with activation "
                  f"{_activation_list()}")
    elif dense and dense[0]["activation"] not in HEAD_ACTIVATIONS:
        reason = (f"its layer {_dense_words(dense[0])} is not read: rnnviz reads a Dense head "
                  f"with activation {_activation_list()}")
    if reason is not None:
        for p in dense:
            p["kind"] = "unread"
        dense[0]["unread"] = reason
        return
    for p in dense:
        if p["units"] > MAX_HEAD_OUTPUTS or p["units"] * width * 4 > MAX_BYTES:
            raise ValueError(f"layer {_dense_words(p)} has {p['units']} outputs on {width} "
                             f"features; this server reads at most {MAX_HEAD_OUTPUTS} outputs "
                             f"and {MAX_BYTES // MB} MB of Dense weights.")


def _activation_list() -> str:
    return "'sigmoid', 'softmax' or none ('linear', logits)"


def _class_and_config(spec) -> tuple[str, dict]:
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError("not a readable .keras file: a layer in config.json has no config.")
    return str(spec.get("class_name")), spec["config"]


def _positive(cfg: dict, key: str, name: str) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"layer {name!r} has {key} = {value!r}; expected a positive integer.")
    return value


def _recurrent_plan(cls: str, cfg: dict, name: str, path: str) -> dict:
    if cls == "Bidirectional":
        if cfg.get("merge_mode", "concat") != "concat":
            raise ValueError(f"layer {name!r} merges its directions by {cfg.get('merge_mode')!r}; "
                             "expected merge_mode='concat' (the default).")
        fwd_cls, fwd_cfg = _class_and_config(cfg.get("layer"))
        bwd_cls, bwd_cfg = _class_and_config(cfg.get("backward_layer") or cfg.get("layer"))
        for inner_cls in (fwd_cls, bwd_cls):
            if inner_cls not in _RECURRENT:
                raise ValueError(f"layer {name!r} wraps a {inner_cls}, another model; expected "
                                 "Bidirectional(SimpleRNN, LSTM or GRU).")
        fwd = _cell_of(fwd_cls, fwd_cfg, name)
        bwd = _cell_of(bwd_cls, bwd_cfg, name)
        if bwd[0] != fwd[0]:
            raise ValueError(f"mixed cells in one stack: layer {name!r} runs a {fwd[3]} forward "
                             f"and a {bwd[3]} backward; expected the same cell both ways.")
        if bwd[1] != fwd[1]:
            raise ValueError(f"layer {name!r} has {fwd[1]} units forward and {bwd[1]} backward; "
                             "expected the same number of units in both directions.")
        backwards = bwd_cfg.get("go_backwards") if "backward_layer" in cfg else True
        if fwd_cfg.get("go_backwards") or not backwards:
            raise ValueError(f"layer {name!r}: expected its forward layer to read forwards and its "
                             "backward layer backwards.")
        cell, units, use_bias, inner = fwd
        return {"kind": "recurrent", "label": f"Bidirectional({inner})", "path": path,
                "cell": cell, "units": units, "use_bias": (use_bias, bwd[2]), "bidirectional": True,
                "return_sequences": bool(fwd_cfg.get("return_sequences"))}
    if cfg.get("go_backwards"):
        raise ValueError(f"layer {name!r} reads the sequence backwards (go_backwards=True); "
                         "expected a forward layer, or Bidirectional.")
    cell, units, use_bias, label = _cell_of(cls, cfg, name)
    return {"kind": "recurrent", "label": label, "path": path, "cell": cell, "units": units,
            "use_bias": (use_bias,), "bidirectional": False,
            "return_sequences": bool(cfg.get("return_sequences"))}


def _cell_of(cls: str, cfg: dict, name: str) -> tuple[str, int, bool, str]:
    """(cell, units, use_bias, label) of a SimpleRNN, LSTM or GRU config."""
    units = _positive(cfg, "units", name)
    act = cfg.get("activation", "tanh")
    rec = cfg.get("recurrent_activation", "sigmoid")
    use_bias = cfg.get("use_bias", True) is not False
    if cls == "SimpleRNN":
        cells = {"tanh": "rnn", "relu": "rnn_relu"}
        if act not in cells:
            raise ValueError(f"layer {name!r} is a SimpleRNN with activation {act!r}, another "
                             "model; rnnviz's RNN uses tanh or relu.")
        return cells[act], units, use_bias, f"SimpleRNN({units}, {act})"
    if act != "tanh" or rec != "sigmoid":
        raise ValueError(f"layer {name!r} is a {cls} with activation {act!r} and recurrent "
                         f"activation {rec!r}, another model; expected tanh and sigmoid.")
    if cls == "GRU" and cfg.get("reset_after", True) is not True:
        raise ValueError(f"layer {name!r} is a GRU with reset_after=False, another model: it "
                         "applies the reset gate before the matrix product. rnnviz's GRU is "
                         "PyTorch's, = Keras reset_after=True (the default).")
    return cls.lower(), units, use_bias, f"{cls}({units})"


def _keras_arrays(f: h5py.File, plan: list[dict]) -> dict:
    """Every array the plan expects, by path, shape-checked; no other array under layers/."""
    expected = {}  # path -> shape, a None entry is filled in from the previous layer
    width = None  # features entering the next layer
    why = {}  # path -> what fixes its shape, for the message
    for p in plan:
        if p["kind"] == "embedding":
            expected[p["path"] + "/vars/0"] = (p["V"], p["E"])
            width = p["E"]
        elif p["kind"] in ("dense", "unread"):  # an unread head is still checked
            expected[p["path"] + "/vars/0"] = (width, p["units"])
            why[p["path"] + "/vars/0"] = (": (features it reads, outputs), and the Dense reads "
                                           f"the top recurrent layer's {width} outputs")
            if p["use_bias"]:
                expected[p["path"] + "/vars/1"] = (p["units"],)
            width = p["units"]
        elif p["kind"] == "recurrent":
            G, H = GATE_BLOCKS[p["cell"]], p["units"]
            subs = ("/forward_layer", "/backward_layer") if p["bidirectional"] else ("",)
            for sub, use_bias in zip(subs, p["use_bias"]):
                base = p["path"] + sub + "/cell/vars/"
                expected[base + "0"] = (width, G * H)
                expected[base + "1"] = (H, G * H)
                if use_bias:
                    expected[base + "2"] = (2, G * H) if p["cell"] == "gru" else (G * H,)
            width = len(subs) * H

    found = []
    if "layers" in f:
        _hard_link(f, "layers")
        f["layers"].visititems(lambda n, obj: found.append("layers/" + n)
                               if isinstance(obj, h5py.Dataset) else None)
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ValueError(f"model.weights.h5 holds {_list(extra)}, which the model in "
                         "config.json does not have; expected the file that model.save wrote.")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ValueError(f"model.weights.h5 has no {_list(missing)}; expected the file that "
                         "model.save wrote.")
    arrays = {}
    for path, shape in expected.items():
        ds = _hard_link(f, path)
        if shape[0] is None:  # the first layer's input width comes from the file
            shape = (ds.shape[0] if ds.ndim else None,) + shape[1:]
        if ds.shape != shape:
            raise ValueError(f"{path} in model.weights.h5 has shape {ds.shape}; expected "
                             f"{shape} for the model in config.json{why.get(path, '')}.")
        if ds.is_virtual or ds.id.get_create_plist().get_external_count():
            raise ValueError(f"{path} in model.weights.h5 points outside the file; expected the "
                             "arrays stored in it.")
        arrays[path] = _float32(path, ds[()])
    return arrays


def _hard_link(f: h5py.File, path: str):
    """The object at `path`, reached through hard links only (no soft or external links)."""
    node, parts = f, path.split("/")
    for i, part in enumerate(parts):
        if not isinstance(node.get(part, getlink=True), h5py.HardLink):
            raise ValueError(f"{'/'.join(parts[:i + 1])} in model.weights.h5 is a link; "
                             "expected the arrays stored in the file.")
        node = node[part]
    return node


def _keras_model(plan: list[dict], arrays: dict) -> LoadedModel:
    recurrent = [p for p in plan if p["kind"] == "recurrent"]
    cell = recurrent[0]["cell"]
    G = GATE_BLOCKS[cell]
    weights = []
    for p in recurrent:
        H = p["units"]
        subs = ("/forward_layer", "/backward_layer") if p["bidirectional"] else ("",)
        layer = []
        for sub, use_bias in zip(subs, p["use_bias"]):
            base = p["path"] + sub + "/cell/vars/"
            layer += [arrays[base + "0"], arrays[base + "1"]]
            # use_bias=False: Keras's bias is zero (a GRU's has two rows, input and recurrence).
            zero = np.zeros((2, G * H) if cell == "gru" else (G * H,), np.float32)
            layer.append(arrays[base + "2"] if use_bias else zero)
        weights.append(layer)
    params = from_keras(cell, weights[0] if len(weights) == 1 else weights)
    input_size = weights[0][0].shape[0]
    embedding = None
    embed = [p for p in plan if p["kind"] == "embedding"]
    if embed:
        embedding = arrays[embed[0]["path"] + "/vars/0"]
    text = "Keras Sequential: " + " → ".join(p["label"] for p in plan)
    notes = []
    if any(p["kind"] == "skip" for p in plan):
        notes.append("Dropout acts only in training and is left out here")
    notes += [p["unread"] for p in plan if p.get("unread")]
    if embed and embed[0]["mask_zero"]:
        notes.append("the Embedding has mask_zero=True: Keras skips steps with token id 0, "
                     "rnnviz reads every step")
    if notes:
        text += "; " + "; ".join(notes)
    directions = tuple(2 if p["bidirectional"] else 1 for p in recurrent)
    hidden_sizes = tuple(p["units"] for p in recurrent)
    return LoadedModel(cell, len(recurrent), 2 in directions, hidden_sizes[0], input_size, params,
                       embedding, text, returns_sequences=recurrent[-1]["return_sequences"],
                       directions=directions, hidden_sizes=hidden_sizes, framework="keras",
                       head=_keras_head(plan, arrays, recurrent[-1]["return_sequences"]))


def _keras_head(plan: list[dict], arrays: dict, every_step: bool) -> Head | None:
    """The plan's Dense layer (at most one, `_check_head`) in rnnviz's layout: Keras stores
    kernel (F, O) for x·kernel; rnnviz keeps w (O, F) for w·x, as torch's Linear does."""
    dense = [p for p in plan if p["kind"] == "dense"]
    if not dense:
        return None
    p = dense[0]
    w = np.ascontiguousarray(arrays[p["path"] + "/vars/0"].T)
    b = arrays[p["path"] + "/vars/1"] if p["use_bias"] else np.zeros(p["units"], np.float32)
    return Head(w, b, p["activation"], every_step)
