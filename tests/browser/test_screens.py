"""Every page and every preset at a projector's sizes: screenshots, and the first chart
above the fold.

One server and one browser tab serve every view; each view is loaded once at 1280×720 and
then resized to 1024×768 (a resize re-lays the page out without rerunning the script).
Screenshots go to tests/browser/_shots/<view>_<width>x<height>.png, what a student sees
without scrolling, plus <view>_full.png (the whole page at 1280 wide) for the README.
"""
from urllib.parse import urlencode

import pytest

from rnnviz import ui
from rnnviz.presets import PRESETS
from tests.browser.conftest import SCREENSHOTS, wait_for_app

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (1024, 768))
LAB = "pages/6_Training_lab.py"
# Pages whose body starts with charts (Home and Theory are text; the Training lab draws
# only once trained).
CHART_PAGES = {"pages/1_Gradient_flow.py": 3, "pages/2_Compare_cells.py": 2,
               "pages/3_Gate_activations.py": 4, "pages/4_Why_it_vanishes.py": 3,
               "pages/5_Connectivity.py": 2, "pages/8_Deep_bidirectional.py": 3}
TRAINED_CHARTS = 3  # loss curves, the flow maps, the profiles
CHART_VISIBLE_PX = 70  # of the first chart on the first screen: its title and a little more


def url_path(script: str) -> str:
    """Streamlit's URL for a page script: pages/1_Gradient_flow.py -> Gradient_flow."""
    if script == "app.py":
        return ""
    return script.split("/")[-1].removesuffix(".py").split("_", 1)[1]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:40]


VIEWS = [(slug(label), script, {}) for script, label, _ in ui.PAGES] + [
    ("preset_" + slug(p.name), p.page, p.query) for p in PRESETS
]


@pytest.fixture(scope="module")
def tab(browser):
    context = browser.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


def layout_facts(pg) -> dict:
    """Where things are, in viewport pixels, measured by the browser."""
    return pg.evaluate(
        """() => {
            const box = el => el ? el.getBoundingClientRect() : null;
            const chart = box(document.querySelector('.js-plotly-plot'));
            const side = document.querySelector('[data-testid="stSidebarUserContent"]');
            const widget = side && side.querySelector(
                '[data-testid="stSelectbox"], [data-testid="stSlider"], [data-testid="stCheckbox"]');
            const labels = Array.from(document.querySelectorAll(
                '[data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] div'));
            return {
                height: window.innerHeight,
                chart_top: chart && chart.top,
                first_widget_top: widget ? box(widget).top : null,
                cut_labels: labels.filter(p => p.scrollWidth > p.clientWidth + 1)
                                  .map(p => p.textContent),
                exceptions: document.querySelectorAll('[data-testid="stException"]').length,
            };
        }"""
    )


def resize(pg, width: int, height: int) -> None:
    pg.set_viewport_size({"width": width, "height": height})
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.wait_for_timeout(700)  # Plotly redraws the charts at their new width


@pytest.mark.parametrize("name, script, query", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_at_projector_sizes(server, tab, name, script, query):
    resize(tab, *SIZES[0])
    tab.goto(f"{server}/{url_path(script)}" + (f"?{urlencode(query)}" if query else ""))
    charts = CHART_PAGES.get(script, 0)
    wait_for_app(tab, charts)
    if script == LAB and query:  # a Training lab preset is about pressing Train
        tab.get_by_role("button", name="Train", exact=True).click()
        tab.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot').length >= {TRAINED_CHARTS}"
            " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " && !document.querySelector('[data-testid=\"stProgress\"]')",
            timeout=240_000,
        )
        tab.wait_for_timeout(1000)
        charts = TRAINED_CHARTS
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []  # collected, so that every shot of the view is taken before failing
    for width, height in SIZES:
        resize(tab, width, height)
        tab.screenshot(path=str(SCREENSHOTS / f"{name}_{width}x{height}.png"))
        facts = layout_facts(tab)
        at = f"at {width}×{height}"
        if facts["exceptions"]:
            problems.append(f"an exception box {at}")
        if facts["cut_labels"]:
            problems.append(f"metric labels or values cut off {at}: {facts['cut_labels']}")
        if width == 1280 and facts["first_widget_top"] is not None \
                and facts["first_widget_top"] > 0.3 * height:
            problems.append(f"the settings start {facts['first_widget_top']:.0f} px down the "
                            f"sidebar {at}")
        if charts and (width, height) == (1024, 768) and script != LAB:
            # Its title at least, not just its first pixel row.
            if facts["chart_top"] is None:
                problems.append(f"no chart drawn {at}")
            elif facts["chart_top"] + CHART_VISIBLE_PX > height:
                problems.append(f"the first chart starts at {facts['chart_top']:.0f} px, "
                                f"below the fold {at}")
    full_page_shot(tab, SCREENSHOTS / f"{name}_full.png", SIZES[0][0])
    assert not problems, f"{name}: " + "; ".join(problems)


def full_page_shot(pg, path, width: int) -> None:
    """The whole page: Streamlit scrolls inside its own container, not the document, so
    the viewport is made as tall as that container's content for the shot."""
    tall = pg.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMainBlockContainer"]');
            const side = document.querySelector('[data-testid="stSidebarUserContent"]');
            const bottom = e => e ? e.getBoundingClientRect().bottom : 0;
            return Math.max(bottom(main), bottom(side), window.innerHeight);
        }"""
    )
    resize(pg, width, min(int(tall) + 40, 8000))
    pg.screenshot(path=str(path))
