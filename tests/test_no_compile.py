"""No student waits for a compiler: after the warm-up, no page compiles anything.

The warm-up compiles the closed catalogue (rnnviz/experiments/catalogue.py); then every page runs under
AppTest with a seeded sample of random settings of all its controls (through the URL, the
one path every widget's value takes too), the Training lab trains, and jax's own compile
log and the program table must both stay silent.
"""
import logging
import random

import jax
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.engine import programs, train
from rnnviz.engine import language
from rnnviz.experiments import (architectures, catalogue, deep, lessons, one_layer,
                                seq2seq_lab, text_lab, word_lab)
from rnnviz.experiments.presets import LAB
from rnnviz.presentation import ui
from tests.test_urls import run_page as open_page

SETTINGS_PER_PAGE = 3
WORDS = "pages/9_Words.py"
SEED = 17


class _CompileLog(logging.Handler):
    """Collects jax's "Compiling …" messages (jax_log_compiles), from any thread."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.compiled: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.compiled.append(message[:160])


@pytest.fixture(scope="module")
def compile_log():
    """The catalogue compiled (and pinned) as the server's warm-up does it, then a log of
    every compile from here on."""
    entries = catalogue.programs()
    programs.clear()
    failed = []
    done = catalogue.warm_up(entries, on_error=lambda p, e: failed.append((p.label, e)),
                             patient=False)
    assert not failed and done == len(entries)
    # One entry, one program: the catalogue's count is what the table holds.
    assert programs.stats()["pinned"] == len(entries)
    log = _CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(log)
    jax.config.update("jax_log_compiles", True)
    yield log
    jax.config.update("jax_log_compiles", False)
    logger.removeHandler(log)


def random_value(field, rng: random.Random) -> str:
    """A valid value of `field` as a URL holds it: any choice, any number in its bounds."""
    if field.optional and rng.random() < 0.3:
        return "off"
    if field.kind is bool:
        return rng.choice(["true", "false"])
    if field.choices:
        return str(rng.choice(field.choices))
    if field.kind is int:
        hi = min(field.hi, 10_000) if field.key != "seed" else field.hi
        return str(rng.randint(int(field.lo), int(hi)))
    return repr(rng.uniform(field.lo, field.hi))


def random_query(page: str, rng: random.Random) -> dict[str, str]:
    if page == LAB:
        query = {f.key: random_value(f, rng) for f in train.FIELDS}
        query["steps"] = str(rng.randint(1, 5))  # a few chunks: compiles, not training, matter
        query["compare"] = rng.choice(["true", "false"])
        return query
    if page == WORDS:  # a short run, then a sentence of the language of any length
        query = {f.key: random_value(f, rng) for f in word_lab.FIELDS}
        query["steps"] = str(rng.randint(50, 60))
        sentence = language.generate(np.random.default_rng(rng.randint(0, 99)),
                                     rng.randint(1, language.MAX_DISTANCE), 0)
        query["text"] = sentence.text
        return query
    if page == ui.SEQ2SEQ_PAGE:  # a short run of both models, then a typed source
        query = {f.key: random_value(f, rng) for f in seq2seq_lab.FIELDS}
        query["steps"] = "25"  # one chunk, one probe: compiles, not training, matter
        query["source"] = "".join(rng.choice("ABCDEFGHxyz<> ") for _ in range(rng.randint(0, 30)))
        return query
    if page == ui.TEXT_PAGE:  # a short run of both cells, then a text read at a position
        query = {f.key: random_value(f, rng) for f in text_lab.FIELDS}
        query["steps"] = "50"  # one chunk of each program, one sample
        query["source"] = "shipped"
        query["read"] = "".join(rng.choice("abc xyz\n:;é<>") for _ in range(rng.randint(0, 140)))
        return query
    fields = {ui.DEEP_PAGE: deep.FIELDS, ui.ARCHITECTURES_PAGE: architectures.FIELDS}.get(
        page, one_layer.FIELDS)
    query = {f.key: random_value(f, rng) for f in fields}
    if page == "pages/1_Gradient_flow.py" and rng.random() < 0.5:
        query["vary"] = rng.choice(list(one_layer.OVERLAY_DEFAULTS))
    return query


SHORTEST_RUN = {LAB: "5", WORDS: "50", ui.SEQ2SEQ_PAGE: "25", ui.TEXT_PAGE: "50"}


def run_page(page: str, query: dict) -> AppTest:
    at = open_page(page, query)
    if page in (LAB, WORDS, ui.SEQ2SEQ_PAGE, ui.TEXT_PAGE):
        next(b for b in at.button if b.label == "Train").click().run()
    return at


@pytest.mark.parametrize("page", [p for p, _, _ in ui.PAGES])
def test_no_page_compiles_after_the_warm_up(page, compile_log):
    rng = random.Random(f"{SEED}-{page}")
    # The page's defaults first; a page that trains gets its shortest run (the number of
    # steps is data to every program: the default 500-700 steps of two or three models
    # only repeat the same calls, for half a minute a page).
    defaults = {"steps": SHORTEST_RUN[page]} if page in SHORTEST_RUN else {}
    tried = [defaults] + [random_query(page, rng) for _ in range(SETTINGS_PER_PAGE)]
    before = programs.stats()["compiles"]
    for query in tried:
        at = run_page(page, query)
        assert not at.exception, (query, at.exception)
        assert not compile_log.compiled, (query, compile_log.compiled)
    assert programs.stats()["compiles"] == before


def test_no_lesson_step_compiles_after_the_warm_up(compile_log):
    """Every step of every shipped lesson, computed afresh (not from the server's store of
    computed steps), its animation's frames and its Train included: nothing compiles."""
    ui._lesson_results.clear()
    before = programs.stats()["compiles"]
    for name in lessons.lesson_names():
        for n, step in enumerate(lessons.load(name).steps, start=1):
            at = open_page(ui.LESSON_PAGE, {"lesson": name, "step": str(n)})
            if step.kind.trains:
                next(b for b in at.button if b.label == "Train").click().run()
                assert at.get("plotly_chart"), n
            assert not at.exception, (n, at.exception)
            assert not compile_log.compiled, (n, compile_log.compiled)
    assert programs.stats()["compiles"] == before


def test_the_catalogue_is_closed_and_small():
    entries = catalogue.programs()
    assert len(entries) <= 96, catalogue.counts()
    assert entries[0].first  # what a visitor waits for first comes first
    assert len({(p.family, p.label) for p in entries}) == len(entries)
