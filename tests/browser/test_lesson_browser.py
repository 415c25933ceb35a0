"""The Lesson in a real browser: a deep link opens its step, the arrow keys move the steps
(and the address, so a reload keeps the step), a student's page follows the teacher's room,
the animations play, and the downloaded lesson opens in Chromium with no network.

Screenshots (the "Done when" of the lesson issue): tests/browser/_shots/lesson_<n>.png,
every step in presenter mode at 1280×720; lesson_follower.png, a student's page.
"""
import re

import pytest

from rnnviz.experiments import lessons
from tests.browser.conftest import SCREENSHOTS, wait_for_app
from tests.browser.test_upload_browser import MAIN, exceptions, tab  # noqa: F401

pytestmark = [pytest.mark.browser]

LESSON = lessons.load(lessons.DEFAULT_LESSON)
HEADING = f'{MAIN} h4'


def step_shown(pg) -> int:
    text = pg.locator(HEADING).first.inner_text()
    return int(re.match(r"Step (\d+) of", text).group(1))


def wait_for_step(pg, n: int, timeout: float = 60_000) -> None:
    pg.wait_for_function(
        """n => { const h = document.querySelector('[data-testid="stMain"] h4');
                  return h && h.innerText.startsWith('Step ' + n + ' of'); }""",
        arg=n, timeout=timeout)
    wait_for_app(pg, 0)


def test_a_deep_link_opens_its_step_and_a_reload_keeps_it(server, tab):
    tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step=5")
    wait_for_step(tab, 5)
    assert step_shown(tab) == 5 and exceptions(tab) == 0
    tab.reload()
    wait_for_step(tab, 5)


def test_the_arrow_keys_move_the_steps(server, tab):
    tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step=2")
    wait_for_step(tab, 2)
    tab.locator(HEADING).first.click()  # focus on the page, not on a widget
    tab.keyboard.press("ArrowRight")
    wait_for_step(tab, 3)
    assert "step=3" in tab.url
    tab.keyboard.press("ArrowRight")
    wait_for_step(tab, 4)
    tab.keyboard.press("ArrowLeft")
    wait_for_step(tab, 3)
    tab.reload()
    wait_for_step(tab, 3)


def test_the_walk_back_plays_in_the_browser(server, tab):
    tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step=3")
    wait_for_step(tab, 3)
    wait_for_app(tab, 1)
    title = lambda: tab.evaluate(  # noqa: E731
        "() => document.querySelector('.js-plotly-plot').layout.title.text")
    before = title()
    tab.locator(".js-plotly-plot .updatemenu-button").first.click()  # ▶ Play
    tab.wait_for_function(
        "t => document.querySelector('.js-plotly-plot').layout.title.text !== t", arg=before,
        timeout=15_000)
    assert re.match(r"\d+ steps? back: ‖∂L/∂h_\d+‖ = ", title())


def test_a_student_follows_the_teacher(server, browser, tab):
    tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step=4")
    wait_for_step(tab, 4)
    tab.get_by_role("button", name="Start a room for a class").click()
    tab.wait_for_function("() => new URL(location).searchParams.get('room')")
    code = re.search(r"room=([A-Z0-9]+)", tab.url).group(1)
    tab.locator(MAIN).get_by_text(f"Room {code}").first.wait_for()

    student = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    student.set_default_timeout(120_000)
    student.goto(f"{server}/Lesson?room={code}")
    wait_for_step(student, 4)
    student.get_by_text(f"Following the teacher in room {code}").wait_for()

    tab.get_by_role("button", name="Next").click()
    wait_for_step(tab, 5)
    wait_for_step(student, 5, timeout=15_000)  # no reload: the page's watch moves it
    tab.keyboard.press("ArrowRight")
    wait_for_step(tab, 6)
    wait_for_step(student, 6, timeout=15_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    student.screenshot(path=str(SCREENSHOTS / "lesson_follower.png"))

    # The student wanders into the explorer and comes back to the teacher's step.
    student.get_by_role("link", name="Open in the explorer").click()
    student.wait_for_function("() => location.pathname.endsWith('/Gradient_flow')")
    wait_for_app(student, 1)
    tab.get_by_role("button", name="Next").click()
    wait_for_step(tab, 7)
    student.get_by_role("link", name=re.compile("Back to the teacher")).click()
    wait_for_step(student, 7, timeout=30_000)
    assert exceptions(student) == 0
    student.context.close()


def test_every_step_in_presenter_mode(server, tab):
    """The whole lesson as a class sees it on the projector: one screenshot per step."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for n, step in enumerate(LESSON.steps, start=1):
        tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step={n}&present=true")
        wait_for_step(tab, n, timeout=180_000)
        wait_for_app(tab, 0 if step.kind.trains else 1)
        assert tab.locator('[data-testid="stSidebar"]').is_hidden()
        assert exceptions(tab) == 0, n
        tab.screenshot(path=str(SCREENSHOTS / f"lesson_{n}.png"))


def test_the_downloaded_lesson_opens_offline(server, browser, tab, tmp_path):
    tab.goto(f"{server}/Lesson?lesson=why-rnns-forget&step=1")
    wait_for_step(tab, 1)
    with tab.expect_download(timeout=180_000) as download:
        tab.get_by_role("button", name="Download this lesson (HTML)").click()
    path = tmp_path / "lesson.html"
    download.value.save_as(path)
    offline = browser.new_context(offline=True)
    pg = offline.new_page()
    asked = []
    pg.on("request", lambda r: asked.append(r.url) if not r.url.startswith("file:") else None)
    pg.goto(path.as_uri())
    expected = sum(2 if s.page in ("Architectures", "Encoder_decoder") else 1
                   for s in LESSON.steps if not s.kind.trains)
    pg.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n "
        "&& document.querySelectorAll('.plotly-graph-div').length === n",
        arg=expected, timeout=60_000)
    drawn = pg.evaluate("() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
                        ".filter(e => e.querySelector('.main-svg')).length")
    assert drawn == expected and asked == []
    assert pg.locator("h2").count() == len(LESSON.steps)
    pg.locator("summary").first.click()  # an answer unfolds
    assert pg.locator("details[open]").count() == 1
    offline.close()
