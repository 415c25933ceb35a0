"""Pages in a real browser: deep link, slider move, preset link, Stop (screenshots of every
page and preset: test_screens.py)."""
import pytest

from tests.browser.conftest import wait_for_app

pytestmark = pytest.mark.browser


def first_trace_y(pg):
    return pg.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot'))[0]._fullData[0].y.length"
    )


def test_deep_link_on_fresh_server_shows_frame_and_settings(server, page):
    """The first visitor opens a deep link: the page has our menu and the URL's settings."""
    page.goto(f"{server}/Gradient_flow?cell=lstm&T=150&init=orthogonal&gain=0.9")
    wait_for_app(page, charts=2)
    # The menu is folded on pages with settings, which start at the top of the sidebar.
    menu = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]').first
    assert page.get_by_role("link", name="Home").count() == 0
    menu.locator("summary").click()
    page.get_by_role("link", name="Home").wait_for(state="visible")
    assert "Forget-gate bias" in page.locator('[data-testid="stSidebar"]').inner_text()
    assert "T=150" in page.url or "T=150" in page.evaluate("() => window.location.search")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_length_slider_changes_the_chart(server, page):
    page.goto(f"{server}/Gradient_flow?T=100")
    wait_for_app(page, charts=2)
    assert first_trace_y(page) == 100
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Sequence length").get_by_role("slider")
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    # Each press moves the thumb; a press that lands while the rerun of the one before
    # redraws the slider can be lost, so compare the chart with where the thumb ended.
    page.wait_for_function("() => /[?&]T=10[1-5](&|$)/.test(window.location.search)")
    wait_for_app(page, charts=2)
    # The chart against the slider's own value (the URL is written by the run, and a run cut
    # short by the next press may have written a value the last run then replaced).
    page.wait_for_function(
        """() => {
            const slider = Array.from(document.querySelectorAll('[data-testid="stSlider"]'))
                .find(e => e.textContent.includes('Sequence length'));
            const shown = slider && slider.querySelector('[data-testid="stSliderThumbValue"]');
            const T = shown ? Number(shown.textContent) : NaN;
            const y = Array.from(document.querySelectorAll('.js-plotly-plot'))[0]._fullData[0].y;
            return T > 100 && y.length === T;
        }"""
    )


def test_home_page_links_to_gradient_flow(server, page):
    page.goto(server)
    wait_for_app(page)  # the menu is open on a page without settings
    page.get_by_role("link", name="Gradient flow").first.click()
    wait_for_app(page, charts=2)
    assert "Gradient_flow" in page.url


def test_preset_link_reproduces_its_settings(server, page):
    from rnnviz.experiments.presets import PRESETS

    preset = next(p for p in PRESETS if p.name.startswith("Exploding"))
    page.goto(server)
    wait_for_app(page)
    page.get_by_role("link", name=preset.name).first.click()
    wait_for_app(page, charts=2)
    search = page.evaluate("() => window.location.search")
    for key, value in preset.query.items():
        assert f"{key}={value}" in search
    assert preset.name in page.locator('[data-testid="stAlert"]').first.inner_text()


def test_theory_page(server, page):
    page.goto(f"{server}/Theory")
    wait_for_app(page)
    page.wait_for_selector(".katex")
    page.wait_for_timeout(500)
    assert page.locator(".katex").count() >= 6
    assert page.locator(".katex-error").count() == 0


def test_training_lab_stop_keeps_the_record(server, page):
    page.goto(f"{server}/Training_lab?compare=false&cell=lstm&steps=2000&batch_size=128"
              "&hidden_size=128&T=100")
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=120_000)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_selector("text=Stopped; everything recorded up to then is kept", timeout=60_000)
    # Stop may come before the first redraw, so Plotly can still be loading: wait for it.
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3",
                           timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 3
