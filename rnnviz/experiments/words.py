"""Words in: token ids from what a student types, and which words a prediction still hears.

`explain(model, ids)` takes a model that reads words (an Embedding, recurrent layers and a
Dense head: a .keras file read by `model_files.load_model_file`, or a model trained here)
and one sentence of token ids. It returns the head's probabilities and, for every word s,
‖∂ℓ/∂e_s‖ (e_s the word's embedding vector, ℓ = −log p(target)) and e_s · ∂ℓ/∂e_s
(gradient × input; Li, Chen, Hovy & Jurafsky 2016, "Visualizing and understanding neural
models in NLP"), beside ‖∂ℓ/∂h_t‖ of the top recurrent layer as the other pages show it.

Text to ids: `read_vocabulary` reads a vocabulary file as Keras's
`TextVectorization.get_vocabulary()` lists it (line i is the token of id i), `ids_of`
standardises text as TextVectorization does by default, and `ids_from_numbers` reads ids
typed by a student who has no vocabulary file.

Pure functions: numpy in and out, no Streamlit.
"""
import math
import re
import string
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import programs
from rnnviz.engine.bptt import _carries0, _network_scan
from rnnviz.engine.programs import Program
from rnnviz.experiments.model_files import HEAD_ACTIVATIONS, MB
from rnnviz.experiments.model_layers import network

# A sentence runs padded to the first of these lengths that holds it, its real length and
# the position explained passed as data: a new sentence of another length reuses the
# program (one per model shape and bucket, two at most), and a short sentence does not pay
# for 128 steps.
MAX_WORDS = 128
WORD_BUCKETS = (32, MAX_WORDS)
MAX_TEXT_CHARS = 2000  # what a text box may hold before it is cut (the issue: 10 000 typed)
MAX_VOCABULARY_BYTES = 2 * MB
MAX_VOCABULARY_LINES = 200_000
# Where a vocabulary names its unknown-word token: Keras's TextVectorization ("[UNK]", id
# 1), then the generated language's "<unk>"; a vocabulary with neither reads unknown words
# as id 1, TextVectorization's place for it.
UNKNOWN_TOKENS = ("[UNK]", "<unk>")
UNKNOWN_ID = 1
# How the head's output is read as probabilities (`head_reading`).
READINGS = ("binary", "softmax", "independent")


# ---------------------------------------------------------------------------------------
# Vocabulary files and text


def read_vocabulary(data: bytes, rows: int) -> list[str]:
    """The tokens of a vocabulary file, token i being the word of id i.

    Args:
      data: the file: UTF-8 text, one token per line, as
        ``"\\n".join(vectorizer.get_vocabulary())`` writes it ("" at line 0 for padding,
        "[UNK]" at line 1); a final newline and Windows line ends are fine.
      rows: the rows of the model's Embedding (V); the file may have fewer lines, not more.
    Raises:
      ValueError: over MAX_VOCABULARY_BYTES, not UTF-8 text, no tokens, or more lines than
        the Embedding has rows (it is another model's vocabulary).
    """
    if len(data) > MAX_VOCABULARY_BYTES:
        size = math.ceil(len(data) / MB * 10) / 10  # never shown as exactly the limit
        raise ValueError(f"the vocabulary file is {size:.1f} MB, over the "
                         f"{MAX_VOCABULARY_BYTES // MB} MB limit for vocabularies.")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the vocabulary file is not UTF-8 text; {_VOCABULARY_FORM}") from None
    text = text.removeprefix("\ufeff")  # the byte-order mark some editors write first
    if _CONTROL.search(text):
        raise ValueError("the vocabulary file holds control characters (is it a binary "
                         f"file?); {_VOCABULARY_FORM}")
    if text.count("\n") > MAX_VOCABULARY_LINES:
        raise ValueError(f"the vocabulary file has more than {MAX_VOCABULARY_LINES} lines; this "
                         f"server reads at most {MAX_VOCABULARY_LINES} tokens.")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no token
    if not any(lines):
        raise ValueError(f"the vocabulary file holds no tokens; {_VOCABULARY_FORM}")
    if len(lines) > rows:
        raise ValueError(f"the vocabulary has {len(lines)} lines, more than the {rows} rows of "
                         f"the model's Embedding (ids 0 to {rows - 1}): line i is the word of "
                         "id i, so this is the vocabulary of another model.")
    return lines


_VOCABULARY_FORM = ("expected one token per line, line i the token of id i, as "
                    "'\\n'.join(vectorizer.get_vocabulary()) writes it.")
# Control characters other than tab, newline and carriage return: a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# TextVectorization's default standardize="lower_and_strip_punctuation" and split="whitespace"
# (Keras 3.15): tf.strings.lower (its default encoding lowers ASCII letters only), this very
# regex replaced by "" (so "don't" is "dont"), then tf.strings.split on ASCII whitespace.
_STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")  # ASCII digits only; int() would take "١" or "1_0"
_ID_SEPARATORS = re.compile(r"[\s,;]+")


class Tokens(NamedTuple):
    """A sentence as token ids, and what was changed on the way, for the page."""

    ids: np.ndarray  # (T,) int32
    words: list  # the T words as read (standardised), or the ids typed, as text
    unknown: list  # words not in the vocabulary (read as its unknown token), or pieces
    #                that are not ids of the model (left out), each once, in order
    notices: list  # sentences saying what was cut, replaced or left out


def standardize(text: str) -> list[str]:
    """The words of `text` as TextVectorization's default reads them: ASCII letters lower
    cased, punctuation removed, split on whitespace ("The keys, Anna's!" -> the, keys, annas)."""
    return [w for w in _WHITESPACE.split(_STRIP.sub("", text.translate(_ASCII_LOWER))) if w]


def unknown_id(vocabulary: list[str]) -> int:
    """The id unknown words read as: the vocabulary's "[UNK]" (or "<unk>"), else 1."""
    for token in UNKNOWN_TOKENS:
        if token in vocabulary:
            return vocabulary.index(token)
    return UNKNOWN_ID


def ids_of(text: str, vocabulary: list[str]) -> Tokens:
    """A typed sentence as token ids of `vocabulary` (from `read_vocabulary`).

    Text past MAX_TEXT_CHARS characters and words past MAX_WORDS are cut; an unknown word
    reads as the vocabulary's unknown token; each with a notice. Empty text (or only
    punctuation) gives no ids and a notice.
    """
    notices = []
    words = _cut_words(standardize(_cut_text(text, notices)), notices)
    if not words:
        notices.append("There are no words to read: type a sentence.")
        return Tokens(np.zeros(0, np.int32), [], [], notices)
    lookup = _lookup(vocabulary)
    unk = unknown_id(vocabulary)
    ids = np.array([lookup.get(w, unk) for w in words], np.int32)
    unknown = list(dict.fromkeys(w for w in words if w not in lookup))
    if unknown:
        name = vocabulary[unk] if unk < len(vocabulary) else "the unknown word"
        notices.append(f"{_count(len(unknown), 'word')} not in the vocabulary, read as "
                       f"{_quoted([name])} (id {unk}): {_quoted(unknown)}.")
    return Tokens(ids, words, unknown, notices)


def ids_from_numbers(text: str, rows: int) -> Tokens:
    """Token ids typed as whole numbers (separated by spaces or commas), for a model without
    a vocabulary file. Pieces that are not whole numbers, and ids outside 0 … rows − 1,
    are left out with a notice; past MAX_WORDS ids are cut."""
    notices = []
    pieces = [p for p in _ID_SEPARATORS.split(_cut_text(text, notices)) if p]
    ids, garbage, outside = [], [], []
    for piece in pieces:
        if not _INTEGER.fullmatch(piece):
            garbage.append(piece)
        elif 0 <= int(piece) < rows:
            ids.append(int(piece))
        else:
            outside.append(piece)
    if garbage:
        notices.append(f"Left out, not whole numbers: {_quoted(garbage)}.")
    if outside:
        notices.append(f"Left out, outside the Embedding's ids 0 to {rows - 1}: "
                       f"{_quoted(outside)}.")
    ids = _cut_words(ids, notices)
    if not ids:
        notices.append(f"There are no token ids to read: type whole numbers from 0 to {rows - 1}, "
                       "separated by spaces.")
    unknown = list(dict.fromkeys(garbage + outside))
    return Tokens(np.array(ids, np.int32), [str(i) for i in ids], unknown, notices)


def _cut_text(text, notices: list) -> str:
    text = "" if text is None else str(text)
    if len(text) > MAX_TEXT_CHARS:
        notices.append(f"The text is cut to its first {MAX_TEXT_CHARS} characters (it had "
                       f"{len(text)}).")
        return text[:MAX_TEXT_CHARS]
    return text


def _cut_words(words: list, notices: list) -> list:
    if len(words) > MAX_WORDS:
        notices.append(f"The sentence is cut to its first {MAX_WORDS} words (it had "
                       f"{len(words)}).")
        return words[:MAX_WORDS]
    return words


def _lookup(vocabulary: list[str]) -> dict:
    """token -> id, the first line of a token that repeats; "" (padding) is never a word."""
    lookup = {}
    for i, token in enumerate(vocabulary):
        if token and token not in lookup:
            lookup[token] = i
    return lookup


def _count(n: int, noun: str) -> str:
    return f"1 {noun} is" if n == 1 else f"{n} {noun}s are"


def _quoted(items: list, most: int = 8, chars: int = 30) -> str:
    """A few of a student's words, quoted and shortened: "'foo', 'bar' and 3 more"."""
    shown = ", ".join("'" + (s if len(s) <= chars else s[:chars] + "…") + "'"
                      for s in map(str, items[:most]))
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


# ---------------------------------------------------------------------------------------
# explain


@dataclass(frozen=True)
class Explanation:
    """What `explain` returns: one prediction and how much of it each word still reaches."""

    ids: np.ndarray  # (T,) int32: the sentence
    probs: np.ndarray  # the head's probabilities at `position`, float64 (see `head_reading`)
    target: int  # the class explained: the predicted one unless one was asked for
    predicted: int  # the class the head predicts
    reading: str  # how the head's output reads as probabilities, one of READINGS
    position: int  # the step whose prediction is explained
    loss: float  # ℓ = −log p(target)
    grad_norms: np.ndarray  # (T,) float64 ‖∂ℓ/∂e_s‖, e_s the embedding vector of word s
    grad_dot: np.ndarray  # (T,) float64 e_s · ∂ℓ/∂e_s (gradient × input)
    hidden_norms: np.ndarray  # (T,) float64 ‖∂ℓ/∂h_t‖ of the top layer's output
    grads: np.ndarray  # (T, E) float64 ∂ℓ/∂e_s itself, what the two above are made of

    @property
    def p_target(self) -> float:
        """p(target): for a one-output sigmoid head p or 1 − p."""
        if self.reading == "binary":
            p = float(self.probs[0])
            return p if self.target == 1 else 1.0 - p
        return float(self.probs[self.target])


def head_reading(head) -> str:
    """How a Dense head's output reads as probabilities:

    "binary": one output through a sigmoid (or a linear one, read as a logit): probs (1,)
      = p(class 1), the classes 0 and 1.
    "softmax": a softmax, or several linear outputs read as logits: probs (O,), one class
      per output.
    "independent": several outputs each through its own sigmoid (multi-label): probs (O,),
      each p(output j is on); explaining class j explains ℓ = −log σ(z_j).
    """
    outputs = head.w.shape[0]
    if head.activation == "softmax" or (head.activation == "linear" and outputs > 1):
        return "softmax"
    return "binary" if outputs == 1 else "independent"


def classes(head) -> int:
    """How many classes `explain` can be asked about: 2 for a binary head, else O."""
    return 2 if head_reading(head) == "binary" else head.w.shape[0]


def word_bucket(T: int) -> int:
    """The padded length a sentence of T words runs at."""
    return next(b for b in WORD_BUCKETS if b >= T)


def explain(model, ids, target=None, position=None, *, padded=None) -> Explanation:
    """Which words the prediction at `position` still hears: ∂ℓ/∂e_s for every word s.

    Args:
      model: a model_files.LoadedModel with an `embedding` (V, E) and a `head`.
      ids: (T,) token ids of one sentence, 1 ≤ T ≤ MAX_WORDS, each in 0 … V − 1.
      target: the class whose −log p is explained; None: the predicted one.
      position: the step whose prediction is explained, default the last (T − 1). A head on
        every step (return_sequences=True) may be asked at any step; one that reads only
        the final output (return_sequences=False) at the last only.
      padded: the length the sentence runs at (default `word_bucket(T)`); any length ≥ T
        gives the same numbers.
    Returns:
      an Explanation. For a one-way model the words after `position` get exactly 0 (no path
      from them to the prediction); a bidirectional layer reads the whole sentence. A
      Keras Bidirectional top layer with return_sequences=False feeds the head [forward
      state after the last word, backward state after the first], as Keras does.
    Raises:
      ValueError: a model without an embedding or head, ids or a target or position out of
        range.
    """
    net, head, embedding = _parts(model)
    ids = _checked_ids(ids, embedding.shape[0])
    T = len(ids)
    position = _checked_position(position, T, head.every_step)
    reading = head_reading(head)
    if target is not None:
        target = _checked_class(target, classes(head))
    padded = word_bucket(T) if padded is None else int(padded)
    if padded < T:
        raise ValueError(f"padded = {padded} is shorter than the sentence ({T} words).")
    xs = np.zeros((padded, 1, embedding.shape[1]), embedding.dtype)  # time-major, one sentence
    xs[:T, 0] = embedding[ids]
    # Where the head reads the top layer: the pair at `position` when it reads every step,
    # else each direction's final state (the forward one after the last word, the backward
    # one after the first), as Keras's return_sequences=False outputs them.
    fwd_at, bwd_at = (position, position) if head.every_step else (T - 1, 0)
    probs, chosen, predicted, loss, gx, gh = _explain_program(
        model.cell, net, head.w, head.b, xs, np.int32(T), np.int32(fwd_at), np.int32(bwd_at),
        np.int32(-1 if target is None else target), reading)
    # Norms in float64 on the host: squares of 1e-20 would flush to 0 in float32 on a CPU.
    e = xs[:T, 0].astype(np.float64)
    g = np.asarray(gx, np.float64)[:T]
    squares = sum(np.sum(np.asarray(h, np.float64)[:T] ** 2, axis=-1) for h in gh)
    probs = np.asarray(probs, np.float64)
    return Explanation(ids, probs, int(chosen), int(predicted), reading, position,
                       float(loss), np.sqrt(np.sum(g * g, axis=-1)), np.sum(e * g, axis=-1),
                       np.sqrt(squares), g)


def program(model, padded: int = WORD_BUCKETS[0]) -> Program:
    """`explain`'s program for this model's shapes at one padded length, to compile ahead
    of need (`programs.compile_only`)."""
    net = network(model)
    label = f"{model.cell}, layers {net.directions}, H {net.hidden_sizes}, T ≤ {padded}"
    ids = np.zeros(1, np.int32)
    return Program("words", label, lambda: explain(model, ids, padded=padded))


def _parts(model):
    """(network, head, embedding) of a model explain can read, checked to fit together."""
    net = network(model)
    if model.embedding is None:
        raise ValueError("explain reads words: it needs a model whose first layer is an "
                         f"Embedding; this one reads vectors of {net.input_size} numbers.")
    head = getattr(model, "head", None)
    if head is None:
        raise ValueError("explain needs the model's Dense head, the layer that turns the "
                         "recurrent layers' output into a prediction; this model has none "
                         "(a .keras file needs a Dense after its recurrent layers; a PyTorch "
                         "state_dict holds no head rnnviz can read).")
    embedding = np.asarray(model.embedding)
    if embedding.ndim != 2 or embedding.shape[1] != net.input_size:
        raise ValueError(f"the Embedding has shape {embedding.shape}; the first recurrent layer "
                         f"reads vectors of {net.input_size} numbers.")
    width = len(net.layers[-1]) * net.hidden_sizes[-1]
    outputs = np.shape(head.w)[0] if np.ndim(head.w) == 2 else 0
    if np.shape(head.w) != (outputs, width) or outputs == 0 or np.shape(head.b) != (outputs,):
        raise ValueError(f"the Dense head has w {np.shape(head.w)} and b {np.shape(head.b)}; the "
                         f"top recurrent layer outputs {width} numbers, so expected w (O, {width}) "
                         "and b (O,).")
    if head.activation not in HEAD_ACTIVATIONS:
        raise ValueError(f"the Dense head's activation is {head.activation!r}; explain reads "
                         f"{', '.join(HEAD_ACTIVATIONS)}.")
    return net, head, embedding


def _checked_ids(ids, rows: int) -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"ids are one sentence, a 1-D sequence of token ids; got shape {a.shape}.")
    if a.size == 0:
        raise ValueError("there are no words to explain: the sentence is empty.")
    if a.size > MAX_WORDS:
        raise ValueError(f"the sentence has {a.size} words; explain reads at most {MAX_WORDS}.")
    if a.dtype.kind not in "iu":
        raise ValueError(f"token ids are whole numbers; got dtype {a.dtype}.")
    bad = a[(a < 0) | (a >= rows)]
    if bad.size:
        raise ValueError(f"token id {int(bad[0])} is outside the Embedding's ids 0 to {rows - 1}.")
    return a.astype(np.int32)


def _checked_position(position, T: int, every_step: bool) -> int:
    if position is None:
        return T - 1
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise ValueError(f"position is a word's index, a whole number; got {position!r}.")
    position = int(position)
    if not 0 <= position < T:
        raise ValueError(f"position {position} is outside the sentence: its words are at 0 to "
                         f"{T - 1}.")
    if not every_step and position != T - 1:
        raise ValueError(f"the model predicts once, after the last word (its top recurrent layer "
                         f"has return_sequences=False): position {T - 1}, not {position}.")
    return position


def _checked_class(target, n: int) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) \
            or not 0 <= target < n:
        raise ValueError(f"target {target!r} is not one of the head's classes 0 to {n - 1}.")
    return int(target)


def _head_input(ys, fwd_at, bwd_at, directions: int):
    """The vector the Dense reads, (F,), from the top layer's output ys (T, 1, F): the
    forward half at step fwd_at, the backward half (if any) at step bwd_at. Indices are
    data: one program serves every position and length."""
    def at(t):
        return jax.lax.dynamic_index_in_dim(ys, t, axis=0, keepdims=False)[0]

    if directions == 1:
        return at(fwd_at)
    half = ys.shape[-1] // 2
    return jnp.concatenate([at(fwd_at)[:half], at(bwd_at)[half:]])


def _probabilities(z, reading: str):
    """(probs, predicted class) of the head's pre-activation z (O,)."""
    if reading == "softmax":
        return jax.nn.softmax(z), jnp.argmax(z)
    probs = jax.nn.sigmoid(z)
    if reading == "binary":  # p > 0.5 is class 1, as Keras users threshold; z > 0 says it
        return probs, (z[0] > 0).astype(jnp.int32)  # where p rounds to 0.5 too
    return probs, jnp.argmax(z)


def _neg_log_p(z, target, reading: str):
    """ℓ = −log p(target) from the pre-activation z, in the forms that do not overflow:
    −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z)."""
    if reading == "softmax":
        return -jax.nn.log_softmax(z)[target]
    if reading == "binary":
        return jax.nn.softplus(jnp.where(target == 1, -z[0], z[0]))
    return jax.nn.softplus(-z[target])


@programs.jit(static_argnames=("cell", "reading"))
def _explain_program(cell, net, w, b, xs, length, fwd_at, bwd_at, target, reading):
    """ℓ and its gradients with respect to the inputs xs (the embedding vectors, (P, 1, E))
    and to the top layer's states, in one reverse pass through the engine's scan.

    The states' gradients come from zero perturbations eps_t added to the top layer's new
    states (as `bptt.flow` does for every layer): jax.grad at eps = 0 is the total
    derivative ∂ℓ/∂h_t. target < 0 explains the predicted class.

    Returns:
      (probs (O,), the class explained, the class predicted, ℓ, ∂ℓ/∂xs (P, E), the top
      layer's ∂ℓ/∂h per direction, a D-tuple of (P, H)); NaN gradients where ℓ is not
      finite (it has no derivative there, as in `bptt.flow`).
    """
    carries0 = _carries0(cell, net, xs)
    top = len(net.layers) - 1

    def zeros(carry):
        return tuple(jnp.zeros((xs.shape[0],) + c.shape, c.dtype) for c in carry)

    # Only the top layer is perturbed: the layers below need no state gradients here.
    eps = tuple(tuple(zeros(c) if k == top else None for c in row)
                for k, row in enumerate(carries0))

    def loss_of(xs, eps):
        ys = _network_scan(cell, net, xs, carries0, eps, length).ys
        z = w @ _head_input(ys, fwd_at, bwd_at, len(net.layers[top])) + b
        probs, predicted = _probabilities(z, reading)
        chosen = jnp.where(target < 0, predicted, target)
        return _neg_log_p(z, chosen, reading), (probs, chosen, predicted)

    (loss, (probs, chosen, predicted)), (gx, geps) = jax.value_and_grad(
        loss_of, argnums=(0, 1), has_aux=True)(xs, eps)
    ok = jnp.isfinite(loss)
    gx = jnp.where(ok, gx[:, 0], jnp.nan)
    gh = tuple(jnp.where(ok, parts[0][:, 0], jnp.nan) for parts in geps[top])
    return probs, chosen, predicted, loss, gx, gh
