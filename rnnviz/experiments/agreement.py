"""Word models trained here on the agreement task, for the Words page: the models, their
accuracy against subject–verb distance beside the two baselines, and their word vectors.

The task (`rnnviz.engine.language`, after Linzen, Dupoux & Goldberg 2016): read a sentence
up to its main verb and say whether the verb is singular or plural ("the keys to the old
cabinet … are"). The models train in the engine's one trainer (`train.train_words`); here
they become what the rest of the app reads (`as_loaded_model`: the `LoadedModel` a Keras
file ``Embedding → LSTM → Dense(1, sigmoid)`` loads as) and the page's figures.

Pure functions returning numpy data; no Streamlit.
"""
import dataclasses
import time
from typing import Iterable, NamedTuple

import numpy as np

from rnnviz.engine import language, train
from rnnviz.engine.cells import GATE_BLOCKS, CellParams
from rnnviz.engine.programs import Program
from rnnviz.engine.train import WordModel, WordsConfig
from rnnviz.experiments import words
from rnnviz.experiments.model_files import Head, LoadedModel

PAIR = ("rnn", "lstm")  # the page's default comparison
EVAL_PER_DISTANCE = 256  # held-out sentences per distance for the accuracy curves


# --- Training ---------------------------------------------------------------------------


class TrainedWords(NamedTuple):
    """One cell's run, stacked from its snapshots (numpy)."""

    config: WordsConfig
    model: WordModel  # the weights at the last snapshot (real sizes, numpy)
    steps: np.ndarray  # (S,) int: snapshot steps, 0 first
    accuracy: np.ndarray  # (S,) held-out accuracy at each snapshot
    held_out_loss: np.ndarray  # (S,)
    losses: np.ndarray  # (N,) training-batch loss of every step run
    diverged: bool
    message: str | None
    stopped: bool  # ended before its last step without diverging (Stop, a time limit)
    seconds: float  # wall-clock time of the run


def collect(config: WordsConfig, snapshots, seconds: float) -> TrainedWords:
    """Stack the snapshots of `train.train_words(config)` (all of them, or those before a
    Stop or a time limit) into a TrainedWords; `seconds` is the run's wall-clock time."""
    snaps = list(snapshots)
    last = snaps[-1]
    return TrainedWords(
        config, last.params, np.array([s.step for s in snaps]),
        np.array([s.accuracy for s in snaps]), np.array([s.held_out_loss for s in snaps]),
        np.concatenate([s.losses for s in snaps]), last.diverged, last.message,
        last.step < config.steps and not last.diverged, float(seconds))


def run_words(config: WordsConfig, time_limit_s: float | None = None) -> TrainedWords:
    """Train one word model to the end, to divergence, or until `time_limit_s` has passed
    (checked at each snapshot, as the Training lab's page checks its limit)."""
    started = time.monotonic()
    snaps = []
    for snap in train.train_words(config):
        snaps.append(snap)
        if time_limit_s is not None and time.monotonic() - started > time_limit_s:
            break
    return collect(config, snaps, time.monotonic() - started)


def train_pair(config: WordsConfig = WordsConfig(), cells: Iterable[str] = PAIR,
               time_limit_s: float | None = None) -> dict[str, TrainedWords]:
    """The same sentences, seed, optimiser and budget for each cell in `cells` (the
    config's own cell is replaced); `time_limit_s` bounds each run."""
    return {c: run_words(dataclasses.replace(config, cell=c), time_limit_s) for c in cells}


def as_loaded_model(config: WordsConfig, model: WordModel, padded: bool = False) -> LoadedModel:
    """A trained word model as the app reads a loaded Keras ``Embedding → cell → Dense(1,
    sigmoid)`` model: one layer, one direction, the head reading the final state.

    padded: the weights at the trainer's padded sizes (H = train.WORD_WIDTH, E =
      train.EMBED_WIDTH, the extra units, embedding columns and head weights zero). It
      computes exactly what the real-size model does (padded units stay 0: an LSTM's
      c = f·0 + i·tanh(0) = 0, a GRU's h = z·0 + (1 − z)·tanh(0) = 0), and every hidden and
      embedding size then has the same shapes (one compiled program per cell downstream).
    """
    m = train.pad_word_model(model, config.cell) if padded else model
    embedding = np.asarray(m.embedding, np.float32)
    cell = CellParams(*(np.asarray(a, np.float32) for a in m.cell))
    H, E = cell.w_hh.shape[1], embedding.shape[1]
    source = (f"trained here: {config.cell.upper()} of {config.hidden_size} units on "
              f"{config.embed_size}-dimensional word vectors, {config.steps} steps on the "
              "agreement task")
    return LoadedModel(
        cell=config.cell, layers=1, bidirectional=False, hidden_size=H, input_size=E,
        params=cell, embedding=embedding, source=source, returns_sequences=False,
        directions=(1,), hidden_sizes=(H,), framework="keras",
        head=Head(np.asarray(m.readout.w, np.float32), np.asarray(m.readout.b, np.float32),
                  "sigmoid", False))


# --- Accuracy against distance ----------------------------------------------------------


class DistanceAccuracy(NamedTuple):
    """Held-out accuracy per subject–verb distance, for each model and the two baselines."""

    distances: np.ndarray  # (D,) int
    counts: np.ndarray  # (D,) int: sentences at each distance
    accuracy: dict  # cell -> (D,) float64: the model's accuracy
    majority: np.ndarray  # (D,): always the more frequent number
    nearest_noun: np.ndarray  # (D,): agree with the last noun before the verb
    attractors: np.ndarray  # (D,): mean attractors per sentence at each distance


def evaluation_sentences(config: WordsConfig, distances: Iterable[int],
                         per_distance: int = EVAL_PER_DISTANCE,
                         attractors: tuple | None = None) -> list:
    """One `language.Batch` of `per_distance` held-out sentences at each distance, with the
    config's (or the given) attractor range and relative-clause rate, from seeds of the
    config's seed that neither its training pool nor its held-out set uses."""
    attractors = config.attractors if attractors is None else attractors
    return [language.sample(train.data_seed(config.seed, 2 + d), per_distance,
                            distances=(d, d), attractors=attractors,
                            relative_rate=config.relative_rate, width=language.MAX_WORDS)
            for d in distances]


def correct_predictions(cell: str, model: WordModel, batch) -> np.ndarray:
    """(N,) bool: whether the model predicts each sentence's verb number (p(plural) > ½)."""
    return (train.word_logits(cell, model, batch) > 0) == (np.asarray(batch.labels) == 1)


def accuracy_by_distance(models: dict, config: WordsConfig, distances: Iterable[int] | None = None,
                         per_distance: int = EVAL_PER_DISTANCE,
                         attractors: tuple | None = None) -> DistanceAccuracy:
    """Accuracy of each model (cell -> WordModel, real size) at each distance (default:
    every distance of the config's range), beside the majority class and the nearest noun
    (Linzen et al. 2016's baselines), on the same held-out sentences for every model."""
    if distances is None:
        distances = range(config.distances[0], config.distances[1] + 1)
    distances = np.array(list(distances), dtype=np.int64)
    batches = evaluation_sentences(config, distances, per_distance, attractors)
    merged = language.Batch(*(np.concatenate(parts) for parts in zip(*batches)))
    accuracy = {}
    for cell, model in models.items():
        correct = correct_predictions(cell, model, merged)
        accuracy[cell] = np.array([c.mean() for c in np.split(correct, len(batches))])
    return DistanceAccuracy(
        distances, np.array([len(b.labels) for b in batches]), accuracy,
        np.array([language.majority_accuracy(b.labels) for b in batches]),
        np.array([language.nearest_noun_accuracy(b) for b in batches]),
        np.array([np.mean(b.attractors) for b in batches]))


# --- The word vectors in 2-D ------------------------------------------------------------


def pca_2d(matrix) -> tuple[np.ndarray, np.ndarray]:
    """The rows of `matrix` (n, E) projected on their first two principal components,
    through NumPy's SVD of the centred matrix: (coordinates (n, 2), fraction of the
    variance each component explains (2,)).

    Each component's sign is fixed so that its largest loading is positive (as
    scikit-learn's svd_flip does): the same vectors always give the same picture. With
    fewer than two components (E = 1, or one row) the missing one is 0.
    """
    x = np.asarray(matrix, np.float64)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, s.size)
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    signs[signs == 0] = 1.0
    coords = np.zeros((x.shape[0], 2))
    coords[:, :k] = u[:, :k] * s[:k] * signs
    total = float(np.sum(s ** 2))
    explained = np.zeros(2)
    if total > 0:
        explained[:k] = s[:k] ** 2 / total
    return coords, explained


class WordMap(NamedTuple):
    """Every word of the vocabulary (but padding and <unk>, which training never moves) as
    a point in the plane of its vectors' first two principal components."""

    ids: np.ndarray  # (n,) int: the words' ids
    words: tuple  # (n,) str
    xy: np.ndarray  # (n, 2)
    roles: tuple  # (n,) one of language.ROLES: "noun", "main verb", ...
    numbers: tuple  # (n,) "singular", "plural" or "" (words without number)
    explained: np.ndarray  # (2,) fraction of the variance along each axis


def word_map(embedding) -> WordMap:
    """The trained word vectors (V, E) in 2-D (`pca_2d`), with each word's role and number
    for colouring."""
    ids = np.array([i for i in range(language.VOCAB_SIZE)
                    if i not in (language.PAD, language.UNK)])
    xy, explained = pca_2d(np.asarray(embedding)[ids])
    numbers = tuple("" if language.NUMBER[i] is None else language.NUMBERS[language.NUMBER[i]]
                    for i in ids)
    return WordMap(ids, tuple(language.VOCAB[i] for i in ids), xy,
                   tuple(language.ROLE[i] for i in ids), numbers, explained)


EXPLAIN_LENGTH = language.MAX_WORDS  # every sentence of the language runs at this length


def explain(trained: TrainedWords, ids) -> "words.Explanation":
    """`words.explain` of a trained word model: the padded model at one padded length, so
    that every size, sentence and seed runs on its cell's one catalogue program."""
    model = as_loaded_model(trained.config, trained.model, padded=True)
    return words.explain(model, ids, padded=EXPLAIN_LENGTH)


def catalogue() -> list[Program]:
    """The programs the word trainer and `accuracy_by_distance` run
    (`train.words_catalogue`), and `explain`'s for each cell."""
    def explained(cell):  # zeros at the padded sizes: building it runs no program
        G, H, E = GATE_BLOCKS[cell], train.WORD_WIDTH, train.EMBED_WIDTH
        zeros = WordModel(np.zeros((language.VOCAB_SIZE, E), np.float32),
                          CellParams(np.zeros((G * H, E), np.float32),
                                     np.zeros((G * H, H), np.float32),
                                     np.zeros(G * H, np.float32), np.zeros(G * H, np.float32)),
                          train.Readout(np.zeros((1, H), np.float32), np.zeros(1, np.float32)))
        config = WordsConfig(cell=cell, hidden_size=H, embed_size=E)
        return words.program(as_loaded_model(config, zeros, padded=True), padded=EXPLAIN_LENGTH)

    return train.words_catalogue() + [explained(cell) for cell in train.WORD_CELLS]
