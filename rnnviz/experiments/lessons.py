"""Lessons: guided tours of the explorer pages, written as data (TOML files under `lessons/`).

A lesson is a list of steps. Each step names an explorer page and its settings (validated
like the page's URL), narration, a question and its answer. Narration and answer state
quantities only through placeholders such as `{lambda1}`: the step's *facts*, computed
here from the same result the step's figure draws. So what a teacher writes stays true of
the figure beside it, whatever the settings.

Loading never raises anything but `LessonError`, whose message names the file, the step and
the field that is wrong. Everything here is numpy and text: no Streamlit.
"""
import dataclasses
import functools
import string
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import language, seq2seq, train
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.engine.tasks import TASKS
from rnnviz.experiments import architectures, claims, deep, one_layer, seq2seq_lab, word_lab
from rnnviz.experiments.claims import format_factor

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
DEFAULT_LESSON = "why-rnns-forget"
MAX_LESSON_BYTES = 64_000
MAX_STEPS = 30
MAX_TEXT = {"title": 80, "narration": 1200, "question": 400, "answer": 1200}
ANIMATIONS = {"walk": "the gradient walks back one step at a time",
              "sweep_gain": "the gain on W_hh sweeps from 0.8 to 1.2"}
SWEEP_GAINS = tuple(np.round(np.linspace(0.8, 1.2, 9), 2).tolist())
WALK_FRAMES = 60  # at most this many frames in a walk back through time


class LessonError(ValueError):
    """A lesson file that cannot be used; the message says where and what."""


# --- Facts: the quantities a narration may state, computed from a step's result ---------

NOT_DEFINED = "(not defined for these settings)"


def _sci(x: float) -> str:
    return f"{x:.1e}" if np.isfinite(x) else "inf/NaN"


def _flow_facts(c: one_layer.FlowConfig, r: one_layer.FlowResult) -> dict[str, str]:
    f = r.facts
    change = f.change
    return {
        "headline": one_layer.summary_sentence(r, c.T),
        "T": str(c.T),
        "gain": cfg.format_value(c.gain),
        "lambda1": f"{r.lambda1:.2f}",
        "steps_per_decade": (f"{f.steps_per_decade:.1f}" if f.steps_per_decade is not None
                             else NOT_DEFINED),
        "start": _sci(float(r.grad_norms[0])),
        "change": (format_factor(max(change, 1 / change)) if change and np.isfinite(change)
                   else NOT_DEFINED),
        "direction": ("falls" if change and change < 1 else "grows") if change else NOT_DEFINED,
        "mean_slope": (f"{r.forward.mean_slope:.2f}" if r.forward.mean_slope is not None
                       else NOT_DEFINED),
    }


def _compare_facts(c, results: dict) -> dict[str, str]:
    out = {}
    for cell, r in results.items():
        one = _flow_facts(replace(c, cell=cell), r)
        for key in ("headline", "start", "steps_per_decade", "change", "direction"):
            out[f"{key}_{cell}"] = one[key]
    best = max(results, key=lambda k: float(np.nan_to_num(results[k].grad_norms[0], nan=-1)))
    out["flattest"] = CELL_LABELS[best]
    out["T"] = str(c.T)
    return out


def _spectrum_facts(c, r: one_layer.JacobianResult) -> dict[str, str]:
    v = r.verdict
    return {"lambda1": f"{max(r.spectrum.lambda1.values()):.3f}",
            "radius": f"{max(r.spectrum.radius.values()):.3f}",
            "verdict": v.verdict, "explanation": v.explanation,
            "gain": cfg.format_value(c.gain)}


def _lab_facts(page, histories: dict) -> dict[str, str]:
    config, _ = page
    out = {"baseline": f"{TASKS[config.task].baseline(config.T):.3g}", "T": str(config.T),
           "steps": str(config.steps)}
    for cell, h in histories.items():
        out[f"outcome_{cell}"] = claims.training_outcome(CELL_LABELS[cell], h.losses,
                                                         h.baseline, h.diverged)
        out[f"loss_{cell}"] = (f"{claims.final_loss(h.losses):.3g}"
                               if np.isfinite(h.losses).all() else "inf/NaN")
        out[f"clipped_{cell}"] = str(int(np.asarray(h.clipped).sum()))
    return out


def _deep_facts(c: deep.DeepConfig, r: deep.DeepResult) -> dict[str, str]:
    return {"depth": deep.depth_sentence(r), "layers": str(c.layers),
            "profiles": " ".join(p.sentence for p in r.profiles)}


def _architecture_facts(c, maps: architectures.Maps) -> dict[str, str]:
    return {**architectures.sentences(maps), "T": str(c.T)}


class WordsResult(NamedTuple):
    """The Words page's models trained, and what each hears of the page's sentence."""

    trained: dict  # cell -> agreement.TrainedWords
    reading: language.Reading  # the sentence read up to its verb
    read: dict  # cell -> (word_lab.Verdict, ‖∂ℓ/∂e_s‖ per word read)


def _words_result(page: word_lab.WordsPage) -> WordsResult:
    reading = language.read_prefix(language.tokenize(page.text))
    trained = word_lab.train_models(page)
    return WordsResult(trained, reading,
                       word_lab.read_sentence(trained, reading) if len(reading.ids) else {})


def _words_facts(page: word_lab.WordsPage, r: WordsResult) -> dict[str, str]:
    subject = r.reading.subject
    out = {"subject": r.reading.words[subject] if subject is not None else NOT_DEFINED,
           "distance": (str(len(r.reading.words) - subject) if subject is not None
                        else NOT_DEFINED),  # words from the subject to the verb
           "reach": (word_lab.reach_sentence(r.reading.words[subject], {
               cell: word_lab.relative_reach(g, subject) for cell, (_, g) in r.read.items()})
               if subject is not None and r.read else NOT_DEFINED)}
    for cell, t in r.trained.items():
        out[f"accuracy_{cell}"] = f"{100 * t.accuracy[-1]:.0f} %"
    for cell, (v, _) in r.read.items():
        out[f"prediction_{cell}"] = word_lab.verdict_label(v)
    return out


def _seq2seq_facts(page: seq2seq_lab.Seq2SeqPage, maps: dict) -> dict[str, str]:
    return {"maps": seq2seq_lab.map_sentence(page, maps), "L": str(page.L)}


# --- What each page offers a lesson ------------------------------------------------------


def _flow_result(c):
    return one_layer.gradient_flow(c)


def _compare_result(c):
    return {cell: one_layer.gradient_flow(replace(c, cell=cell)) for cell in COMPARED}


def _lab_result(page):
    config, compare = page
    cells = train.COMPARE_CELLS if compare else (config.cell,)
    return {cell: train.collect(replace(config, cell=cell), train.train(replace(config, cell=cell)))
            for cell in cells}


def untrained_seq2seq_maps(page: seq2seq_lab.Seq2SeqPage) -> dict:
    """run -> (L, L) ‖∂ℓ_j/∂x_i‖ of the page's two models as they start, on its source."""
    shown, _ = seq2seq.encode_source(page.source, page.L)
    return {name: seq2seq.measure(config, seq2seq.initial_state(config), shown).grad_map
            for name, config in page.configs().items()}


COMPARED = ("rnn", "lstm", "gru")


class PageKind(NamedTuple):
    """A page a step can show: its script, its settings, how a step computes its result,
    which facts a narration may use, and which figures and animations it offers."""

    script: str
    fields: tuple
    parse: Callable  # raw settings -> (settings object, notices)
    compute: Callable  # settings object -> result
    facts: Callable  # (settings object, result) -> dict name -> text
    fact_names: tuple
    figures: tuple = ()  # a step's `figure` choices (the first is the default)
    animations: tuple = ()
    trains: bool = False  # the result is a training run (seconds, not milliseconds)
    texts: dict = {}  # free-text settings (data, never markup) -> their longest length


_FLOW_FACTS = ("headline", "T", "gain", "lambda1", "steps_per_decade", "start", "change",
               "direction", "mean_slope")
PAGES = {
    "Gradient_flow": PageKind(
        "pages/1_Gradient_flow.py", one_layer.FIELDS, one_layer.FlowConfig.from_query,
        _flow_result, _flow_facts, _FLOW_FACTS, animations=tuple(ANIMATIONS)),
    "Compare_cells": PageKind(
        "pages/2_Compare_cells.py", tuple(f for f in one_layer.FIELDS if f.key != "cell"),
        one_layer.FlowConfig.from_query, _compare_result, _compare_facts,
        tuple(f"{k}_{c}" for c in COMPARED
              for k in ("headline", "start", "steps_per_decade", "change", "direction"))
        + ("flattest", "T")),
    "Why_it_vanishes": PageKind(
        "pages/4_Why_it_vanishes.py", one_layer.FIELDS, one_layer.FlowConfig.from_query,
        one_layer.jacobian_analysis, _spectrum_facts,
        ("lambda1", "radius", "verdict", "explanation", "gain")),
    "Training_lab": PageKind(
        "pages/6_Training_lab.py", train.FIELDS + (train.COMPARE_FIELD,), train.lab_from_query,
        _lab_result, _lab_facts,
        ("baseline", "T", "steps") + tuple(f"{k}_{c}" for c in train.COMPARE_CELLS + ("rnn_relu",)
                                           for k in ("outcome", "loss", "clipped")),
        trains=True),
    "Deep_bidirectional": PageKind(
        "pages/8_Deep_bidirectional.py", deep.FIELDS, deep.DeepConfig.from_query,
        deep.deep_flow, _deep_facts, ("depth", "layers", "profiles")),
    "Words": PageKind(
        "pages/9_Words.py", word_lab.FIELDS, word_lab.WordsPage.from_query, _words_result,
        _words_facts, ("subject", "distance", "reach") + tuple(
            f"{k}_{c}" for c in ("rnn", "lstm", "gru") for k in ("accuracy", "prediction")),
        trains=True, texts={"text": language.MAX_CHARS}),
    "Architectures": PageKind(
        "pages/10_Architectures.py", architectures.FIELDS, architectures.ArchConfig.from_query,
        architectures.maps, _architecture_facts, architectures.ARCHITECTURES + ("T",),
        figures=architectures.ARCHITECTURES),
    "Encoder_decoder": PageKind(
        "pages/11_Encoder_decoder.py", seq2seq_lab.FIELDS, seq2seq_lab.Seq2SeqPage.from_query,
        untrained_seq2seq_maps, _seq2seq_facts, ("maps", "L"),
        texts={"source": seq2seq_lab.MAX_SOURCE_CHARS}),
}


# --- Lessons and their steps -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Step:
    title: str
    narration: str
    page: str  # a key of PAGES
    query: dict  # the settings as the page's URL writes them (only those the lesson names)
    question: str
    answer: str
    figure: str | None = None
    animate: str | None = None

    @property
    def kind(self) -> PageKind:
        return PAGES[self.page]

    def settings(self):
        """The page's settings object (validated when the lesson was loaded)."""
        return self.kind.parse(self.query)[0]

    def key(self) -> tuple:
        """What the step's result and figures depend on (hashable)."""
        return self.page, tuple(sorted(self.query.items())), self.figure, self.animate


@dataclasses.dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem: the `lesson` of the URL
    title: str
    summary: str
    steps: tuple


STEP_FIELDS = ("title", "narration", "page", "settings", "question", "answer", "figure",
               "animate")
REQUIRED = ("title", "narration", "page", "question", "answer")


def _where(file: str, n: int | None = None, title: str = "", field: str | None = None) -> str:
    out = file
    if n is not None:
        out += f", step {n}" + (f" ({title[:40]})" if title else "")
    if field is not None:
        out += f", field “{field}”"
    return out


def placeholders(text: str) -> list[str]:
    """The {names} in a narration or answer; raises ValueError on a broken brace."""
    return [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]


def _text(file, n, title, raw: dict, field: str) -> str:
    value = raw.get(field)
    if value is None:
        raise LessonError(f"{_where(file, n, title, field)}: missing.")
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{_where(file, n, title, field)}: must be non-empty text.")
    if len(value) > MAX_TEXT[field]:
        raise LessonError(f"{_where(file, n, title, field)}: {len(value)} characters, at most "
                          f"{MAX_TEXT[field]}.")
    return value.strip()


def _settings(file, n, title, kind: PageKind, raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LessonError(f"{_where(file, n, title, 'settings')}: must be a table of "
                          "setting = value.")
    fields = {f.key: f for f in kind.fields}
    query = {}
    for key, value in raw.items():
        if key in kind.texts:
            if not isinstance(value, str) or len(value) > kind.texts[key]:
                raise LessonError(f"{_where(file, n, title, 'settings')}: “{key}” must be "
                                  f"text of at most {kind.texts[key]} characters.")
            query[key] = value
            continue
        if key not in fields:
            raise LessonError(
                f"{_where(file, n, title, 'settings')}: “{key}” is not a setting of "
                f"{kind.script}; its settings are {', '.join([*fields, *kind.texts])}.")
        if not isinstance(value, (str, int, float, bool)):
            raise LessonError(f"{_where(file, n, title, 'settings')}: “{key}” must be a "
                              "number, text or true/false.")
        parsed, notice = cfg.parse_value(fields[key], value)
        if notice:
            raise LessonError(f"{_where(file, n, title, 'settings')}: {notice}")
        query.update(cfg.to_query((fields[key],), {key: parsed}))
    return query


def _step(file: str, n: int, raw) -> Step:
    if not isinstance(raw, dict):
        raise LessonError(f"{_where(file, n)}: a step must be a table ([[step]]).")
    title = raw.get("title") if isinstance(raw.get("title"), str) else ""
    unknown = [k for k in raw if k not in STEP_FIELDS]
    if unknown:
        raise LessonError(f"{_where(file, n, title, unknown[0])}: not a field of a step; a "
                          f"step has {', '.join(STEP_FIELDS)}.")
    texts = {field: _text(file, n, title, raw, field)
             for field in ("title", "narration", "question", "answer")}
    page = raw.get("page")
    if page is None:
        raise LessonError(f"{_where(file, n, title, 'page')}: missing.")
    if page not in PAGES:
        raise LessonError(f"{_where(file, n, title, 'page')}: “{str(page)[:40]}” is not a page "
                          f"a lesson can show; one of {', '.join(PAGES)}.")
    kind = PAGES[page]
    query = _settings(file, n, title, kind, raw.get("settings"))
    figure = raw.get("figure")
    if figure is not None and figure not in kind.figures:
        offered = (f"one of {', '.join(kind.figures)}" if kind.figures
                   else "nothing (this page has one figure)")
        raise LessonError(f"{_where(file, n, title, 'figure')}: “{str(figure)[:40]}” is not "
                          f"offered by {page}: {offered}.")
    animate = raw.get("animate")
    if animate is not None and animate not in kind.animations:
        offered = (", ".join(kind.animations) if kind.animations else "none on this page")
        raise LessonError(f"{_where(file, n, title, 'animate')}: “{str(animate)[:40]}” is not "
                          f"an animation of {page} (offered: {offered}).")
    for field in ("narration", "answer"):
        try:
            names = placeholders(texts[field])
        except ValueError as e:
            raise LessonError(f"{_where(file, n, title, field)}: a brace is not closed or "
                              f"not escaped ({e}); write {{{{ and }}}} for a literal brace.")
        for name in names:
            if name not in kind.fact_names:
                raise LessonError(
                    f"{_where(file, n, title, field)}: {{{name}}} is not a quantity of "
                    f"{page}; its quantities are {', '.join(kind.fact_names)}.")
    return Step(texts["title"], texts["narration"], page, query, texts["question"],
                texts["answer"], figure or (kind.figures[0] if kind.figures else None), animate)


def parse_lesson(text: str, name: str, file: str | None = None) -> Lesson:
    """A lesson from the TOML text of the file `file` (for messages); raises LessonError."""
    file = file or f"{name}.toml"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LESSON_BYTES:
        raise LessonError(f"{file}: larger than {MAX_LESSON_BYTES // 1000} KB.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LessonError(f"{file}: not valid TOML ({e}).") from None
    for field in ("title", "summary"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise LessonError(f"{_where(file, field=field)}: missing (the lesson's {field}, "
                              "as text, before the first [[step]]).")
    unknown = [k for k in data if k not in ("title", "summary", "step")]
    if unknown:
        raise LessonError(f"{_where(file, field=unknown[0])}: not a field of a lesson; a "
                          "lesson has title, summary and [[step]] tables.")
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise LessonError(f"{_where(file, field='step')}: a lesson needs at least one "
                          "[[step]].")
    if len(steps) > MAX_STEPS:
        raise LessonError(f"{_where(file, field='step')}: {len(steps)} steps, at most "
                          f"{MAX_STEPS}.")
    return Lesson(name, data["title"].strip(), data["summary"].strip(),
                  tuple(_step(file, n, raw) for n, raw in enumerate(steps, start=1)))


def lesson_names() -> list[str]:
    return sorted(p.stem for p in LESSONS_DIR.glob("*.toml"))


def load(name: str) -> Lesson:
    """A shipped lesson by name (its file's stem); raises LessonError for an unknown one."""
    if name not in lesson_names():
        raise LessonError(f"There is no lesson “{str(name)[:40]}”; the lessons are "
                          f"{', '.join(lesson_names())}.")
    path = LESSONS_DIR / f"{name}.toml"
    return _load(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int) -> Lesson:  # read again only when the file changed
    return parse_lesson(path.read_text(encoding="utf-8"), path.stem, path.name)


# --- A step's result, facts and words -----------------------------------------------------


def compute(step: Step):
    """The step's result: what its page computes for the same settings."""
    return step.kind.compute(step.settings())


def facts(step: Step, result) -> dict[str, str]:
    return step.kind.facts(step.settings(), result)


class _Facts(dict):
    def __missing__(self, key):  # a quantity this result does not have (e.g. a cell not trained)
        return NOT_DEFINED


def fill(text: str, known: dict[str, str]) -> str:
    """`text` with each {name} replaced by its computed value."""
    return text.format_map(_Facts(known))


def training_summary(step: Step) -> str:
    """What a training step's Train will do, for the note beside its button."""
    settings = step.settings()
    if step.page == "Words":
        cells = " and ".join(CELL_LABELS[c] for c in settings.cells)
        return f"trains {cells} live on subject–verb agreement, {settings.steps} steps each"
    config, compare = settings
    return (f"trains {'the three cells' if compare else CELL_LABELS[config.cell]} live on "
            f"the {TASKS[config.task].label.split(' (')[0].lower()}, {config.steps} steps each")


def sweep_configs(step: Step) -> list[tuple[float, one_layer.FlowConfig]]:
    """The sweep's frames: the step's Gradient flow settings at each gain of SWEEP_GAINS."""
    c = step.settings()
    return [(g, replace(c, gain=g)) for g in SWEEP_GAINS]


def sweep_runs(step: Step) -> list[tuple[float, one_layer.FlowResult]]:
    """(gain, result) for each frame of the step's gain sweep."""
    return [(g, one_layer.gradient_flow(c)) for g, c in sweep_configs(step)]


def walk_steps(T: int) -> np.ndarray:
    """How many steps back each frame of a walk reaches: 0 … T − 1, at most WALK_FRAMES."""
    return np.unique(np.round(np.linspace(0, T - 1, min(T, WALK_FRAMES))).astype(int))
