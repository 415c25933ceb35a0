"""Every page and every preset at a projector's sizes: screenshots, and the first chart
above the fold.

One server and one browser tab serve every view; each view is loaded once at 1280×720 and
then resized to 1024×768 (a resize re-lays the page out without rerunning the script).
Screenshots go to tests/browser/_shots/<view>_<width>x<height>.png, what a student sees
without scrolling, plus <view>_full.png (the whole page at 1280 wide) for the README.
"""
from urllib.parse import urlencode

import pytest

from rnnviz.experiments.presets import PRESETS
from rnnviz.presentation import ui
from tests.browser.conftest import SCREENSHOTS, settle, wait_for_app

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
                '[data-testid="stSelectbox"], [data-testid="stSlider"], [data-testid="stCheckbox"],'
                + ' [data-testid="stRadio"]');
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


# Every drawn chart as wide as its box: Streamlit measures a chart's container after a
# resize and Plotly redraws it at the new width (100-250 ms here; the SVG keeps the old
# width until then). Charts that are not laid out (a closed expander) have no width.
CHARTS_FIT = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(e => {
    const box = e.getBoundingClientRect().width, svg = e.querySelector('.main-svg');
    if (!box || !e._fullLayout || !svg) return true;
    return Math.abs(e._fullLayout.width - box) < 1
        && Math.abs(svg.getBoundingClientRect().width - box) < 1;
})"""


def resize(pg, width: int, height: int) -> None:
    """Resize the viewport and wait until Plotly has redrawn every chart at its new width
    (at most 5 s), then 150 ms for the page to paint."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pg.set_viewport_size({"width": width, "height": height})
    pg.evaluate("() => window.scrollTo(0, 0)")
    try:
        pg.wait_for_function(CHARTS_FIT, timeout=5_000, polling=50)
    except PlaywrightTimeout:
        pass  # the shot then shows a chart mid-redraw; the layout facts do not depend on it
    pg.wait_for_timeout(150)


@pytest.mark.parametrize("name, script, query", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_at_projector_sizes(server, tab, name, script, query):
    tab.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})  # then loaded
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


# --- the back row: text size and ink, a preset's narration with its chart, the sidebar ----

TEXT_MIN_PX = ui.TEXT_MIN_PX
INK_MAX_CHANNEL = 0x40  # "dark ink": every RGB channel at most this, fully opaque
NARRATED = [p for p in PRESETS if p.name.startswith(("Vanishing", "Bidirectional: the loss "
                                                      "reads the middle"))]


def text_facts(pg) -> list[dict]:
    """Every caption and every box's text in the main area and the sidebar: its font size
    and its colour as drawn (the colour times every ancestor's opacity)."""
    return pg.evaluate(
        """() => Array.from(document.querySelectorAll(
              '[data-testid="stCaptionContainer"] p, [data-testid="stAlertContainer"] p'))
            .map(p => {
              let opacity = 1;
              for (let e = p; e; e = e.parentElement) opacity *= +getComputedStyle(e).opacity;
              const rgb = getComputedStyle(p).color.match(/[0-9.]+/g).map(Number);
              return {text: p.textContent.slice(0, 50), px: parseFloat(getComputedStyle(p).fontSize),
                      rgb: rgb.slice(0, 3), alpha: (rgb.length > 3 ? rgb[3] : 1) * opacity};
            })"""
    )


def cut_in_sidebar(pg) -> list[str]:
    return cut_text(pg, '[data-testid="stSidebar"]', '[data-testid="stSidebarUserContent"]')


def cut_text(pg, root: str, column: str) -> list[str]:
    """Texts under `root` that do not fit: elements (and the value of each select box, an
    <input>) whose content is wider than their box, and text that reaches past the right
    edge of a box that clips it (an ancestor whose overflow is not visible), of a bordered
    box around it (a card, an expander), or of the content of `column`."""
    return pg.evaluate(
        """([root, column]) => {
            const top = document.querySelector(root);
            const content = top.querySelector(column);
            const edge = content.getBoundingClientRect().right
                - parseFloat(getComputedStyle(content).paddingRight);
            const out = [];
            top.querySelectorAll('p, span, div, input, a, label, strong, em, code').forEach(e => {
                const own = e.tagName === 'INPUT' ? e.value
                    : Array.from(e.childNodes).filter(n => n.nodeType === 3)
                          .map(n => n.textContent).join('').trim();
                if (!own || e.getClientRects().length === 0) return;  // not drawn
                let clip = edge;
                for (let a = e.parentElement; a && a !== top.parentElement; a = a.parentElement) {
                    const style = getComputedStyle(a);
                    if (style.overflowX !== 'visible' || parseFloat(style.borderRightWidth) > 0)
                        clip = Math.min(clip, a.getBoundingClientRect().right);
                }
                const range = document.createRange();
                range.selectNodeContents(e);
                const right = e.tagName === 'INPUT' ? 0 : range.getBoundingClientRect().right;
                if ((e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) || right > clip + 1)
                    out.push(own.slice(0, 60));
            });
            return out;
        }""",
        [root, column],
    )


@pytest.mark.parametrize("preset", NARRATED, ids=lambda p: slug(p.name))
def test_back_row_narration_with_its_chart(server, tab, preset):
    """At 1280×720 a preset's narration is on the first screen together with the chart it
    narrates (and both fit on one screen), in dark ink at 16 px or more like every caption."""
    assert len(NARRATED) == 2
    tab.set_viewport_size({"width": 1280, "height": 720})
    tab.goto(f"{server}/{url_path(preset.page)}?{urlencode(preset.query)}")
    wait_for_app(tab, CHART_PAGES[preset.page])
    resize(tab, 1280, 720)
    place = tab.evaluate(
        """name => {
            const box = Array.from(document.querySelectorAll('[data-testid="stAlertContainer"]'))
                .find(a => a.innerText.includes(name));
            const chart = document.querySelector('.js-plotly-plot');
            const r = e => e.getBoundingClientRect();
            const first = {box: [r(box).top, r(box).bottom], chart: [r(chart).top, r(chart).bottom]};
            box.scrollIntoView({block: 'start'});
            return {first, together: [r(box).top, r(chart).bottom], height: window.innerHeight};
        }""",
        preset.name,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"back_row_{slug(preset.name)}_scrolled.png"))
    box, chart = place["first"]["box"], place["first"]["chart"]
    assert 0 <= box[0] and box[1] <= place["height"], place  # the whole narration
    assert chart[0] + 3 * CHART_VISIBLE_PX <= place["height"], place  # and the chart
    assert chart[0] >= box[1] - 1, place  # the narration says what to look at, above it
    top, bottom = place["together"]
    assert bottom - top <= place["height"], place  # one screen holds both
    facts = text_facts(tab)
    assert any(preset.name in f["text"] for f in facts)
    small = [f for f in facts if f["px"] < TEXT_MIN_PX]
    pale = [f for f in facts if max(f["rgb"]) > INK_MAX_CHANNEL or f["alpha"] < 0.99]
    assert not small, small
    assert not pale, pale


def test_back_row_sidebar_not_cut_at_1024(server, tab):
    """At 1024×768 nothing in the sidebar is cut: every preset name and page name, the task
    menu, the upload box and the share link, on the pages with the most in their sidebar."""
    resize(tab, 1024, 768)
    views = [(LAB, {"compare": "false", "clip": "1.0"}),
             ("pages/1_Gradient_flow.py", {"cell": "lstm", "radius": "1.0", "chrono": "100"}),
             ("pages/8_Deep_bidirectional.py", {})]
    for script, query in views:
        tab.goto(f"{server}/{url_path(script)}?{urlencode(query)}")
        wait_for_app(tab)
        sidebar = tab.locator('[data-testid="stSidebar"]')
        # Bottom up: a box grows over about 500 ms once opened and moves only what is below
        # it, so no click is aimed at a box that is still moving. Then all done opening.
        for name in ("Share this view", "Bring your own model", "Presets"):
            sidebar.get_by_text(name, exact=True).first.click()
        settle(tab, tab.locator('[data-testid="stSidebarUserContent"]'))
        for preset in PRESETS:
            assert sidebar.get_by_role("link", name=preset.name).is_visible(), preset.name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"back_row_sidebar_{url_path(script)}.png"))
        assert cut_in_sidebar(tab) == [], script
        names = tab.evaluate(
            """() => Array.from(document.querySelectorAll(
                  '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'))
                .map(a => a.innerText.trim())""")
        assert {p.name for p in PRESETS} <= set(names)
    tab.goto(f"{server}/{url_path(LAB)}")
    wait_for_app(tab)
    task = tab.locator('[data-testid="stSidebar"] input[aria-label="Task"]').input_value()
    assert task == "Adding problem"  # the short name; the citation is in its help


def test_back_row_home_gallery_not_cut(server, tab):
    """Home's classroom scenarios at both sizes: every preset's name whole in its card."""
    for width, height in SIZES:
        resize(tab, width, height)
        tab.goto(server)
        wait_for_app(tab)
        shown = tab.evaluate(
            """() => Array.from(document.querySelectorAll(
                  '[data-testid="stMainBlockContainer"] [data-testid="stPageLink-NavLink"]'))
                .map(a => a.querySelector('[data-testid="stMarkdownContainer"]').innerText.trim())""")
        assert {p.name for p in PRESETS} <= set(shown)
        cut = cut_text(tab, '[data-testid="stMainBlockContainer"]',
                       '[data-testid="stVerticalBlock"]')
        assert cut == [], (width, cut)
