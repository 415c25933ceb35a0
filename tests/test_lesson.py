"""The Lesson page and lessons as data: every shipped step renders and draws what its page
draws for the same settings; its words are filled from the figure's own arrays; the loader
names the file, step and field of every mistake and never raises anything else; rooms move
only with their secret; the lesson downloads as one offline HTML file."""
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.experiments import claims, lessons, one_layer, word_lab
from rnnviz.experiments.lessons import LessonError, parse_lesson
from rnnviz.presentation import lesson_view, rooms, ui
from tests.test_app import open_page

LESSON_PAGE = "pages/13_Lesson.py"
SHIPPED = lessons.load(lessons.DEFAULT_LESSON)
ARC = ["Architectures", "Architectures", "Gradient_flow", "Gradient_flow", "Gradient_flow",
       "Gradient_flow", "Why_it_vanishes", "Compare_cells", "Training_lab",
       "Deep_bidirectional", "Words", "Architectures", "Encoder_decoder"]


def chart_data(at) -> list[str]:
    """Each Plotly chart's traces as drawn (JSON), in page order."""
    return [json.dumps(json.loads(c.proto.spec)["data"], sort_keys=True)
            for c in at.get("plotly_chart")]


def test_the_shipped_lesson_follows_the_arc():
    assert lessons.lesson_names() == ["why-rnns-forget"]
    assert 10 <= len(SHIPPED.steps) <= 14
    assert [s.page for s in SHIPPED.steps] == ARC
    assert [s.animate for s in SHIPPED.steps].count("walk") >= 1
    assert "sweep_gain" in [s.animate for s in SHIPPED.steps]
    gains = {s.query.get("gain") for s in SHIPPED.steps if s.page == "Gradient_flow"}
    assert {"0.9", "1.1"} <= gains  # vanishing and exploding, as the arc asks


@pytest.mark.parametrize("n", [n for n, s in enumerate(SHIPPED.steps, 1) if not s.kind.trains])
def test_every_step_draws_what_its_page_draws(n):
    step = SHIPPED.steps[n - 1]
    lesson = open_page(LESSON_PAGE, {"lesson": SHIPPED.name, "step": str(n)})
    assert f"Step {n} of {len(SHIPPED.steps)} · {step.title}" in [m.value[5:] for m in
                                                                   lesson.markdown]
    shown = chart_data(lesson)
    assert shown, "the step draws its figure"
    page = open_page(step.kind.script, step.query)
    drawn = chart_data(page)
    for data in shown:
        assert data in drawn, f"step {n}: a figure its page {step.kind.script} does not draw"
    # Its words: the narration and the answer filled from the facts of the same result.
    known = lessons.facts(step, lessons.compute(step))
    texts = [m.value for m in lesson.markdown]
    assert lessons.fill(step.narration, known) in texts
    assert lessons.fill(step.answer, known) in texts
    # "Open in the explorer": the page with the step's settings.
    link = [e for e in lesson.get("page_link") if "explorer" in e.proto.label][0]
    assert link.proto.page == step.kind.script.split("/")[-1][:-3].split("_", 1)[1]
    assert dict(kv.split("=") for kv in link.proto.query_string.split("&")) == step.query


TRAINING = {
    "Training_lab": ("{ compare = true, task = \"adding\", T = 20, hidden_size = 8, steps = 40 }",
                     "{outcome_rnn}", "{outcome_lstm}"),
    "Words": ("{ steps = 50, H = 8, E = 8, text = \"the keys to the cabinet are\" }",
              "{reach}", "{prediction_lstm}"),
}


@pytest.mark.parametrize("page", sorted(TRAINING))
def test_a_training_step_draws_what_its_page_draws_after_train(page):
    """A training step at a small budget (the shipped ones train for seconds): the lesson's
    figure equals its page's after that page's Train, on the same settings, and its facts
    are read from the runs."""
    settings_, narration, answer = TRAINING[page]
    lesson = parse_lesson(f"""
title = "t"
summary = "s"
[[step]]
title = "Training"
page = "{page}"
settings = {settings_}
narration = "{narration}"
question = "q"
answer = "{answer}"
""", "small")
    step = lesson.steps[0]
    rendered = lesson_view.render(step, lessons.compute(step))
    at = open_page(step.kind.script, step.query)
    [b for b in at.button if b.label == "Train"][0].click().run()
    drawn = chart_data(at)
    data = json.dumps(json.loads(rendered.figures[0].to_json())["data"], sort_keys=True)
    assert data in drawn
    said = " ".join(e.value for e in [*at.info, *at.markdown, *at.caption])
    if page == "Training_lab":
        for cell in ("rnn", "lstm", "gru"):
            h = rendered.result[cell]
            last = np.asarray(h.losses)[-claims.LAST_STEPS:]
            assert rendered.facts[f"loss_{cell}"] == f"{last.mean():.3g}"
            assert rendered.facts[f"clipped_{cell}"] == str(int(np.sum(h.clipped)))
            assert rendered.facts[f"outcome_{cell}"] in said
    else:
        assert rendered.facts["subject"] == "keys" and rendered.facts["distance"] == "4"
        assert rendered.facts["reach"] in said
        subject = rendered.result.reading.subject
        for cell, t in rendered.result.trained.items():
            assert rendered.facts[f"accuracy_{cell}"] == f"{100 * t.accuracy[-1]:.0f} %"
            assert f"held-out accuracy {100 * t.accuracy[-1]:.0f} %" in said
            v, g = rendered.result.read[cell]
            assert rendered.facts[f"prediction_{cell}"] == word_lab.verdict_label(v)
            assert word_lab.relative_reach(g, subject) == pytest.approx(
                float(g[subject] / np.max(g)))


@pytest.mark.parametrize("n", [n for n, s in enumerate(SHIPPED.steps, 1) if s.kind.trains])
def test_a_training_step_asks_for_train(n):
    at = open_page(LESSON_PAGE, {"step": str(n)})
    assert any("Press **Train**" in i.value for i in at.info)
    assert [b.label for b in at.button if b.label == "Train"] == ["Train"]
    assert not chart_data(at)


# --- Facts: every quantity a narration can state, read from the arrays -----------------


def test_flow_facts_are_read_from_the_curve():
    step = SHIPPED.steps[3]  # vanishing, gain 0.9
    r = lessons.compute(step)
    f = lessons.facts(step, r)
    assert f["lambda1"] == f"{r.lambda1:.2f}" and abs(r.lambda1 - 0.9) < 1e-5
    assert f["start"] == f"{r.grad_norms[0]:.1e}"
    ratio = r.grad_norms[-1] / r.grad_norms[0]  # it falls going back: the fold change
    assert float(f["change"].replace("e", "e")) == pytest.approx(ratio, rel=0.06)
    decades = np.log10(r.grad_norms[-1] / r.grad_norms[0])
    assert float(f["steps_per_decade"]) == pytest.approx((r.grad_norms.size - 1) / decades,
                                                         rel=0.1)
    assert f["direction"] == "falls"


def test_compare_and_spectrum_facts_are_read_from_their_results():
    compare = SHIPPED.steps[7]
    results = lessons.compute(compare)
    f = lessons.facts(compare, results)
    start = {cell: r.grad_norms[0] for cell, r in results.items()}
    assert f["flattest"] == {"rnn": "Vanilla RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}[
        max(start, key=start.get)]
    for cell, value in start.items():
        assert f[f"start_{cell}"] == f"{value:.1e}"
    spectrum = SHIPPED.steps[6]
    r = lessons.compute(spectrum)
    f = lessons.facts(spectrum, r)
    eig = np.concatenate(list(r.spectrum.eigenvalues.values()))
    assert float(f["radius"]) == pytest.approx(np.abs(eig).max(), abs=1e-3)
    w = one_layer.make_params(spectrum.settings()).w_hh
    assert float(f["lambda1"]) == pytest.approx(np.linalg.svd(np.asarray(w),
                                                              compute_uv=False)[0], abs=1e-3)


def test_every_shipped_narration_is_filled():
    for step in SHIPPED.steps:
        if step.kind.trains:
            continue
        known = lessons.facts(step, lessons.compute(step))
        assert set(known) == set(step.kind.fact_names) or set(known) <= set(
            step.kind.fact_names), step.page
        for text in (lessons.fill(step.narration, known), lessons.fill(step.answer, known)):
            assert lessons.NOT_DEFINED not in text and "{" not in text, (step.title, text)


@pytest.mark.parametrize("page", sorted(lessons.PAGES))
def test_each_page_offers_exactly_the_facts_it_declares(page):
    kind = lessons.PAGES[page]
    query = {"Training_lab": {"steps": "30", "hidden_size": "8", "T": "20"},
             "Words": {"steps": "50", "H": "8", "E": "8"}}.get(page, {})
    step = lessons.Step("t", "n", page, query, "q", "a",
                        kind.figures[0] if kind.figures else None)
    known = lessons.facts(step, lessons.compute(step))
    assert set(known) <= set(kind.fact_names)
    if not kind.trains:
        assert set(known) == set(kind.fact_names)


# --- Animations: computed once, every frame read from its own result --------------------


def test_the_walk_reveals_one_more_step_per_frame():
    step = SHIPPED.steps[2]
    r = lessons.compute(step)
    fig = lesson_view.walk_animation(step.settings(), r)
    T = r.grad_norms.size
    ks = lessons.walk_steps(T)
    assert ks[0] == 0 and ks[-1] == T - 1 and len(fig.frames) == len(ks)
    for k, frame in zip(ks, fig.frames):
        y = np.asarray(frame.data[0].y, float)
        assert np.isfinite(y).sum() == k + 1
        assert np.allclose(y[T - 1 - k:], r.grad_norms[T - 1 - k:])
        shown = float(re.search(r"= ([0-9.e+-]+)$", frame.layout.title.text).group(1))
        assert shown == pytest.approx(r.grad_norms[T - 1 - k], rel=0.05)
    # opens on the whole curve: the page's own figure
    assert fig.layout.sliders[0].active == len(ks) - 1
    assert np.allclose(np.asarray(fig.data[0].y, float), r.grad_norms, equal_nan=True)


def test_the_sweep_has_one_exact_frame_per_gain():
    step = SHIPPED.steps[5]
    c = step.settings()
    r = lessons.compute(step)
    fig = lesson_view.sweep_animation(c, r, lessons.sweep_runs(step))
    assert [f.name for f in fig.frames] == [f"{g:.2f}" for g in lessons.SWEEP_GAINS]
    assert lessons.SWEEP_GAINS[0] == 0.8 and lessons.SWEEP_GAINS[-1] == 1.2
    for gain, frame in zip(lessons.SWEEP_GAINS, fig.frames):
        own = one_layer.gradient_flow(replace(c, gain=gain)).grad_norms
        y = np.asarray(frame.data[0].y, float)
        ok = own >= FLOOR
        assert np.allclose(y[ok], own[ok])
        shown = float(frame.layout.title.text.rsplit(" ", 1)[1])
        assert shown == pytest.approx(own[0], rel=0.05)
    # zero inputs: each step multiplies by exactly the gain, so step 0 gets gain^(T-1)
    T = c.T
    for gain, frame in zip(lessons.SWEEP_GAINS, fig.frames):
        assert np.asarray(frame.data[0].y, float)[0] == pytest.approx(gain ** (T - 1), rel=1e-3)
    lo, hi = fig.layout.yaxis.range
    every = np.concatenate([np.asarray(f.data[0].y, float) for f in fig.frames])
    assert lo <= np.log10(np.nanmin(every)) and np.log10(np.nanmax(every)) <= hi


# --- The validator: a message naming the file, the step and the field ------------------

GOOD_STEP = """
[[step]]
title = "Vanishing"
page = "Gradient_flow"
settings = { gain = 0.9, T = 200 }
narration = "It falls: {headline}"
question = "Why?"
answer = "Because λ₁ = {lambda1}."
"""
HEAD = 'title = "A lesson"\nsummary = "What it is."\n'


def test_a_good_lesson_loads():
    lesson = parse_lesson(HEAD + GOOD_STEP, "mine")
    assert lesson.steps[0].query == {"gain": "0.9", "T": "200"}


@pytest.mark.parametrize("text, where, what", [
    ("title = ", "mine.toml", "not valid TOML"),
    ('summary = "s"\n' + GOOD_STEP, "field “title”", "missing"),
    (HEAD, "field “step”", "at least one"),
    (HEAD + GOOD_STEP.replace('title = "Vanishing"', 'title = "Vanishing"\ncolour = 1'),
     "step 1 (Vanishing), field “colour”", "not a field of a step"),
    (HEAD + GOOD_STEP.replace('narration = "It falls: {headline}"', ''),
     "step 1 (Vanishing), field “narration”", "missing"),
    (HEAD + GOOD_STEP.replace('"Gradient_flow"', '"Gradient_flwo"'),
     "step 1 (Vanishing), field “page”", "not a page"),
    (HEAD + GOOD_STEP.replace("gain = 0.9", "gian = 0.9"),
     "step 1 (Vanishing), field “settings”", "“gian” is not a setting"),
    (HEAD + GOOD_STEP.replace("gain = 0.9", "gain = 9.5"),
     "step 1 (Vanishing), field “settings”", "out of range"),
    (HEAD + GOOD_STEP.replace("T = 200", "T = 2.5"),
     "step 1 (Vanishing), field “settings”", "not valid"),
    (HEAD + GOOD_STEP.replace("gain = 0.9", "gain = [0.9]"),
     "step 1 (Vanishing), field “settings”", "must be a number"),
    (HEAD + GOOD_STEP.replace("{headline}", "{headlines}"),
     "step 1 (Vanishing), field “narration”", "{headlines} is not a quantity"),
    (HEAD + GOOD_STEP.replace("{lambda1}", "{lambda1"),
     "step 1 (Vanishing), field “answer”", "brace"),
    (HEAD + GOOD_STEP.replace('page = "Gradient_flow"', 'page = "Gradient_flow"\nfigure = "x"'),
     "step 1 (Vanishing), field “figure”", "this page has one figure"),
    (HEAD + GOOD_STEP.replace('page = "Gradient_flow"', 'page = "Gradient_flow"\nanimate = "spin"'),
     "step 1 (Vanishing), field “animate”", "not an animation"),
    (HEAD + GOOD_STEP.replace('question = "Why?"', 'question = ""'),
     "step 1 (Vanishing), field “question”", "non-empty text"),
    (HEAD + GOOD_STEP.replace('"Why?"', '"' + "w" * 500 + '"'),
     "step 1 (Vanishing), field “question”", "at most 400"),
    (HEAD + GOOD_STEP * 31, "field “step”", "at most 30"),
    (HEAD + GOOD_STEP + GOOD_STEP.replace('title = "Vanishing"', 'title = 3'),
     "step 2, field “title”", "non-empty text"),
    (HEAD + "x" * 70_000, "mine.toml", "larger than"),
])
def test_the_validator_names_file_step_and_field(text, where, what):
    with pytest.raises(LessonError) as e:
        parse_lesson(text, "mine")
    message = str(e.value)
    assert message.startswith("mine.toml"), message
    assert where in message and what in message, message


def test_an_unknown_lesson_in_the_url_gets_a_message_and_the_shipped_one():
    at = open_page(LESSON_PAGE, {"lesson": "../../etc/passwd", "step": "99"})
    warnings = " ".join(w.value for w in at.warning)
    assert "There is no lesson" in warnings and "step=99" in warnings
    assert any("Step 13 of 13" in m.value for m in at.markdown)


_scalar = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.booleans(),
                    st.text(max_size=30))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else
                                     "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)  # a JSON string is a TOML basic string


@st.composite
def lesson_texts(draw):
    keys = ["title", "page", "narration", "question", "answer", "figure", "animate",
            "settings", "colour"]
    lines = [HEAD] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[step]]")
        for key in draw(st.lists(st.sampled_from(keys), unique=True)):
            if key == "page":
                value = json.dumps(draw(st.sampled_from(sorted(lessons.PAGES) + ["Nope", ""])))
            elif key == "settings":
                fields = ["gain", "T", "cell", "layers", "L", "compare", "zz"]
                pairs = draw(st.dictionaries(st.sampled_from(fields), _scalar, max_size=3))
                value = "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in pairs.items()) + " }"
            elif key in ("narration", "answer"):
                value = json.dumps(draw(st.text(alphabet="ab {}λ_1", max_size=20)))
            else:
                value = _toml_value(draw(_scalar))
            lines.append(f"{key} = {value}")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lesson_texts())
def test_any_lesson_file_loads_or_says_why(text):
    try:
        lesson = parse_lesson(text, "drawn")
    except LessonError as e:
        assert str(e).startswith("drawn.toml")
        return
    for step in lesson.steps:
        step.settings()  # valid settings: the page's own parser accepts them unchanged
        assert step.kind.parse(step.query)[1] == []


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_any_text_loads_or_says_why(text):
    try:
        parse_lesson(text, "drawn")
    except LessonError:
        pass


# --- Rooms --------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_only_the_secret_moves_a_room():
    reg = rooms.Rooms()
    code, secret = reg.start("why-rnns-forget", 1)
    assert rooms.valid_code(code)
    with pytest.raises(rooms.RoomError, match="Only the teacher"):
        reg.move(code, "guess", 4)
    with pytest.raises(rooms.RoomError, match="Only the teacher"):
        reg.move(code, None, 4)
    assert reg.get(code).step == 1
    reg.move(code, secret, 4)
    assert reg.get(code).step == 4
    assert reg.get(code).secret == ""  # a student's copy holds no secret


def test_rooms_expire_and_are_bounded():
    clock = Clock()
    reg = rooms.Rooms(max_rooms=3, expiry_s=100, clock=clock)
    code, secret = reg.start("why-rnns-forget", 2)
    clock.now = 99
    reg.move(code, secret, 3)  # a move keeps it open
    clock.now = 150
    assert reg.get(code).step == 3
    clock.now = 201
    with pytest.raises(rooms.RoomError, match="no room"):
        reg.get(code)
    codes = [reg.start("why-rnns-forget", 1)[0] for _ in range(5)]
    assert len(reg) == 3
    assert all(reg.get(c) for c in codes[-3:])
    with pytest.raises(rooms.RoomError):
        reg.get(codes[0])  # the longest idle went first


@pytest.mark.parametrize("code", ["<script>", "../..", "abcde", "ABCDEFGH", "", "ABC D",
                                  "ÄBCDE", "A" * 10_000, "O0IL1"])
def test_a_hostile_room_code_is_refused(code):
    with pytest.raises(rooms.RoomError, match="not a room code"):
        rooms.Rooms().get(code)


def test_a_follower_follows_the_teacher_and_can_wander_off():
    reg = ui.lesson_rooms()
    code, secret = reg.start("why-rnns-forget", 5)
    student = open_page(LESSON_PAGE, {"room": code, "step": "2"})
    heading = lambda at: [m.value for m in at.markdown if m.value.startswith("#### Step")][0]  # noqa: E731
    assert heading(student).startswith("#### Step 5 of 13")
    assert any(f"room {code}" in i.value for i in student.info)
    reg.move(code, secret, 7)
    student.run()  # the page's 2-second watch reruns it: here, by hand
    assert heading(student).startswith("#### Step 7 of 13")
    # Next on their own: they wandered off; the room moves on without them
    [b for b in student.button if b.label == "Next"][0].click().run()
    assert heading(student).startswith("#### Step 8 of 13")
    reg.move(code, secret, 9)
    student.run()
    assert heading(student).startswith("#### Step 8 of 13")
    [b for b in student.button if b.label.startswith("Back to the teacher")][0].click().run()
    assert heading(student).startswith("#### Step 9 of 13")


def test_the_teacher_moves_the_room():
    at = open_page(LESSON_PAGE, {"step": "3"})
    [b for b in at.button if b.label == "Start a room for a class"][0].click().run()
    code = at.query_params["room"][0] if isinstance(at.query_params["room"], list) \
        else at.query_params["room"]
    assert any(m.value == f"# Room {code}" for m in at.markdown)
    [b for b in at.button if b.label == "Next"][0].click().run()
    assert ui.lesson_rooms().get(code).step == 4


@pytest.mark.parametrize("code, message", [("ZZZZZ", "There is no room ZZZZZ"),
                                           ("<img src=x onerror=alert(1)>", "not a room code")])
def test_unknown_and_hostile_rooms_in_the_url_get_a_message(code, message):
    at = open_page(LESSON_PAGE, {"room": code})
    assert any(message in e.value for e in at.error)
    assert any(m.value.startswith("#### Step 1 of 13") for m in at.markdown)


# --- Take it home ------------------------------------------------------------------------


def test_the_download_is_one_offline_file_with_every_figure():
    step = SHIPPED.steps[2]
    lesson = replace(SHIPPED, steps=(SHIPPED.steps[0], step, SHIPPED.steps[8]))
    rendered = [lesson_view.render(s, lessons.compute(s)) if not s.kind.trains else None
                for s in lesson.steps]
    text = lesson_view.lesson_html(lesson, rendered)
    assert text.count('class="plotly-graph-div"') == 3  # 2 (diagram and map) + 1
    assert "<script src=" not in text and "cdn.plot.ly" not in text.replace(
        "https://cdn.plot.ly", "")  # plotly.js is inside, not fetched
    assert text.count("Plotly.newPlot") == 3 and "addFrames" in text  # the walk's frames
    assert rendered[1].narration(step).replace("'", "&#x27;") in text
    assert "it was not run before the download" in text  # the training step nobody ran
    assert "<h2" in text and text.count("<details>") == 2
