"""The Streamlit side of rnnviz: page frame, menu, URL-bound controls. The only streamlit import."""
import atexit
import contextlib
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, replace

import jax
import streamlit as st

from rnnviz.engine import config as cfg
from rnnviz.engine import programs, seq2seq, train
from rnnviz.engine.bptt import FLOOR, LOSS_PLACEMENTS
from rnnviz.engine.cells import CELL_LABELS, CELLS
from rnnviz.engine.init import RADIUS_KINDS, SCHEME_LABELS, SCHEMES
from rnnviz.engine.tasks import INPUT_KINDS, INPUT_LABELS, TASKS
from rnnviz.experiments import (architectures, catalogue, deep, lessons, model_files, model_layers,
                                one_layer, presets, seq2seq_lab, text_lab, word_lab, words)
from rnnviz.experiments.presets import PRESETS
from rnnviz.presentation import lesson_view, plots, rooms

# A class's sessions run in their own script threads, and glibc kept what their results
# freed: with large blocks served by mmap the load test's peak fell from 666 to 482 MB
# (scripts/load_test.py). Two heaps is what MALLOC_ARENA_MAX=2 at launch would give (559
# MB); set here it only holds for threads that come later than the first visitors.
programs.limit_malloc_arenas(2)
programs.mmap_large_allocations(256 * 1024)

# Compiled programs survive a server restart (a hosted app sleeps and wakes), so the first
# visitor after one does not wait for XLA, nor does a page whose program the bounded table
# of rnnviz.engine.programs dropped. JAX_COMPILATION_CACHE_DIR, if set, chooses the folder.
if not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir",
                      os.path.join(tempfile.gettempdir(), "rnnviz-xla-cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

# (script, menu label, icon); app.py is the home page. Pages add themselves here.
PAGES = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Gradient_flow.py", "Gradient flow", ":material/trending_down:"),
    ("pages/2_Compare_cells.py", "Compare cells", ":material/compare_arrows:"),
    ("pages/3_Gate_activations.py", "Gate activations", ":material/tune:"),
    ("pages/4_Why_it_vanishes.py", "Why it vanishes", ":material/blur_circular:"),
    ("pages/5_Connectivity.py", "Connectivity", ":material/grid_on:"),
    ("pages/6_Training_lab.py", "Training lab", ":material/model_training:"),
    ("pages/7_Theory.py", "Theory", ":material/menu_book:"),
    ("pages/8_Deep_bidirectional.py", "Deep & bidirectional", ":material/stacks:"),
    ("pages/9_Words.py", "Words", ":material/text_fields:"),
    ("pages/10_Architectures.py", "Architectures", ":material/account_tree:"),
    ("pages/11_Encoder_decoder.py", "Encoder–decoder", ":material/translate:"),
    ("pages/12_Text_generator.py", "Text generator", ":material/edit_note:"),
    ("pages/13_Lesson.py", "Lesson", ":material/co_present:"),
)
CACHE_ENTRIES = 64
LOSS_LABELS = {"last": "last step only", "all": "every step (summed)"}


# A compact frame, so that at 1024×768 the first chart is on the first screen: less empty
# space above the title and the sidebar, a headline beside a metric at 1.4rem rather than
# 1.75, and metric labels and values that wrap instead of being cut off with "…" in narrow
# columns. For the back row of a lecture hall: captions, page links and the text of every
# box (a preset's narration is an st.info) at 16 px or more in the figures' dark ink
# (plots.INK), not Streamlit's grey 14 px; nothing cut off at 1024×768: page and preset
# links (in the sidebar and on the page) and the upload box's line of formats wrap; and
# the sidebar's folded menus a little lower, so that its settings still start in its top
# 30%. st.html with only a <style> takes no room on the page.
TEXT_MIN_PX = 16
FRAME_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; }
[data-testid="stSidebarHeader"] { height: 2.5rem; margin-bottom: 0; }
[data-testid="stSidebarUserContent"] { padding-top: 0; }
[data-testid="stColumn"] h3 { font-size: 1.4rem; }
[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div,
[data-testid="stMetricValue"] div, [data-testid="stMetricValue"] p {
  white-space: normal; overflow: visible; text-overflow: clip; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stAlertContainer"] [data-testid="stMarkdownContainer"],
[data-testid="stAlertContainer"] [data-testid="stMarkdownContainer"] p {
  font-size: max(%(px)dpx, 1rem); color: %(ink)s; opacity: 1; }
[data-testid="stAlertContainer"] [data-testid="stMarkdownContainer"] p { line-height: 1.45; }
[data-testid="stAlertContainer"] { padding: 0.75rem 1rem; }
[data-testid="stMainBlockContainer"] [data-testid="stPageLink-NavLink"] p {
  font-size: max(%(px)dpx, 1rem); }
[data-testid="stPageLink-NavLink"] span, [data-testid="stPageLink-NavLink"] p,
[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInstructions"] span {
  white-space: normal; overflow: visible; text-overflow: clip; }
[data-testid="stPageLink-NavLink"] { height: auto; line-height: 1.3; }
[data-testid="stSidebar"] [data-testid="stExpander"] summary { min-height: 2.1rem; }
</style>""" % {"px": TEXT_MIN_PX, "ink": plots.INK}


def page_frame(title: str, icon: str, heading: bool = True,
               lesson: bool = False) -> st.delta_generator.DeltaGenerator:
    """Set up a page; returns the sidebar container where the menu goes (filled by `menu`).

    The title is a level-3 heading (st.title's 2.75rem pushed the first chart below the
    fold of a 768-pixel screen)."""
    st.set_page_config(page_title=f"{title} · rnnviz", page_icon=icon, layout="wide")
    programs.note_activity()  # the warm-up pauses while visitors use the server
    if warm_up_wanted():
        start_warm_up()
    st.html(FRAME_CSS)
    if heading:  # (the Lesson page's presenter mode leaves it out: its step has one)
        st.markdown(f"### {title}")
    menu_slot = st.sidebar.container()
    if not lesson:  # a student who followed a room and wandered off finds the way back
        back_to_the_teacher()
    model_sidebar()  # the session's model, on every page, right under the menu
    model_refused_notice()
    return menu_slot


_PAGE_OBJECTS: dict = {}  # (the app's folder, a page's path) -> st.Page


def page_object(path: str):
    """The page at `path` (relative to the app's folder) as an `st.Page`, made once per
    process. `st.page_link` resolves a path given as text with `os.path.realpath` on every
    call: for the menu's 20 links ~100 file-system calls per run, each a wait for Python's
    lock while a class keeps the server busy (profiled: ~30 ms a run). An `st.Page` is
    resolved once, when it is made, and is the page Streamlit registered for that file."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    key = (None if ctx is None else str(ctx.pages_manager.main_script_parent), path)
    if key not in _PAGE_OBJECTS:
        _PAGE_OBJECTS[key] = st.Page(path, default=path == "app.py")
    return _PAGE_OBJECTS[key]


def menu(container, query: dict[str, str] | None = None) -> None:
    """The page menu, folded into two expanders at the top of the sidebar so that a
    page's settings start right under them; open on pages without settings (those pass
    no query). Links carry the current settings that fit the page they open."""
    with container:
        with st.expander("rnnviz: pages", icon=":material/menu:", expanded=not query):
            for path, label, icon in PAGES:
                st.page_link(page_object(path), label=label, icon=icon,
                             query_params=carried_query(path, query or {}) or None)
        with st.expander("Presets", icon=":material/school:"):
            for preset in PRESETS:
                st.page_link(page_object(preset.page), label=preset.name,
                             query_params=preset.query, help=preset.intro)


DEEP_PAGE = "pages/8_Deep_bidirectional.py"
ARCHITECTURES_PAGE = "pages/10_Architectures.py"
SEQ2SEQ_PAGE = "pages/11_Encoder_decoder.py"
TEXT_PAGE = "pages/12_Text_generator.py"
FLOW_PAGES = tuple(p for p, _, _ in PAGES if p.startswith("pages/") and p not in (
    presets.LAB, "pages/7_Theory.py", DEEP_PAGE, ARCHITECTURES_PAGE, SEQ2SEQ_PAGE, TEXT_PAGE))
GATED_PAGE = "pages/3_Gate_activations.py"
PAGE_DEFAULTS = {GATED_PAGE: {"cell": "lstm"}}  # every page opens on something to see


def carried_query(target: str, query: dict[str, str]) -> dict[str, str]:
    """The settings of `query` that the page `target` understands and accepts as they
    are: a value it would replace with a notice is left behind, not carried."""
    if target in FLOW_PAGES:
        fields = one_layer.FIELDS
    elif target == presets.LAB:
        fields = train.FIELDS + (train.COMPARE_FIELD,)
    elif target == DEEP_PAGE:
        fields = deep.FIELDS
    elif target == ARCHITECTURES_PAGE:
        fields = architectures.FIELDS
    else:
        return {}
    keys = {f.key: f for f in fields}
    out = {}
    for key, value in query.items():
        if key in keys and cfg.parse_value(keys[key], value)[1] is None:
            out[key] = value
    if target == GATED_PAGE and out.get("cell") in ("rnn", "rnn_relu"):
        del out["cell"]  # a cell without gates would open Gate activations on nothing
    return out


def preset_gallery() -> None:
    """Every preset as a link with its introduction and the page it opens, with that
    page's icon (for the home page)."""
    pages = {path: (label, icon) for path, label, icon in PAGES}
    columns = st.columns(2)
    for i, preset in enumerate(PRESETS):
        label, icon = pages[preset.page]
        with columns[i % 2].container(border=True):
            st.page_link(preset.page, label=f"**{preset.name}**", query_params=preset.query,
                         icon=icon)
            st.caption(f"*{label}.* {preset.intro}")


def preset_narration(page: str, result=None) -> bool:
    """If the current settings are a preset of this page, show its introduction and what
    the result shows (computed from `result` by the preset's narrate function)."""
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    preset = presets.matching(page, query)
    if preset is None:
        return False
    said = preset.narrate(result) if preset.narrate and result is not None else ""
    st.info(f"**{preset.name}.** {preset.intro} {said}".strip(), icon=":material/school:")
    return True


def load_url_once(parse, prefix: str, to_widgets) -> None:
    """Copy settings from the URL into widget state when the URL changed from outside.

    The URL is the source of truth when someone opens a link (or a preset); after that the
    widgets are, and `write_url` mirrors them back. Invalid URL values are replaced by safe
    ones and the notices shown once.
    """
    raw = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    marker = f"_{prefix}_url"
    if st.session_state.get(marker) != raw:
        config, notices = parse(raw)
        for key, value in to_widgets(config).items():
            st.session_state[f"{prefix}_{key}"] = value
        st.session_state[marker] = raw
        st.session_state[f"_{prefix}_notices"] = notices
    # Streamlit forgets the state of a widget that a run does not draw (the forget-gate
    # slider while the cell is a GRU); writing it back keeps the setting for later.
    for key in to_widgets(parse({})[0]):
        name = f"{prefix}_{key}"
        st.session_state[name] = st.session_state[name]


def show_notices(prefix: str) -> None:
    for notice in st.session_state.pop(f"_{prefix}_notices", []):
        st.warning(notice, icon=":material/link_off:")


def write_url(config, prefix: str) -> dict[str, str]:
    """Mirror the validated settings into the address bar, so a copied link reproduces them.

    Args:
      config: a FlowConfig, or the URL form (dict of strings) of any other settings.
    """
    query = config if isinstance(config, dict) else config.to_query()
    current = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    if current != {k: [v] for k, v in query.items()}:
        st.query_params.from_dict(query)
    st.session_state[f"_{prefix}_url"] = {k: [v] for k, v in query.items()}
    return query


def share_link(query: dict[str, str]) -> None:
    """Show the address of exactly this view, with a copy button (st.code has one)."""
    base = (st.context.url or "").split("?")[0]
    link = base + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    with st.sidebar.expander("Share this view", icon=":material/link:"):
        st.caption("Copy this link: it reproduces every setting, seed included."
                   + (" Your uploaded model stays in this session: it is not in the link."
                      if current_model() is not None else ""))
        st.code(link, language=None, wrap_lines=True)


def _flow_widgets(c: one_layer.FlowConfig) -> dict:
    """Widget values for a config (optional settings become an on/off switch and a value)."""
    values = asdict(c)
    values["radius_on"] = c.radius is not None
    values["radius"] = 1.0 if c.radius is None else c.radius
    values["chrono_on"] = c.chrono is not None
    values["chrono"] = c.T if c.chrono is None else c.chrono
    return values


def flow_controls(prefix: str = "fl", choose_cell: bool = True,
                  defaults: dict | None = None, model=None) -> one_layer.FlowConfig:
    """The sidebar controls of the gradient-flow experiment, bound to the URL.

    With choose_cell=False (pages that show every cell) the cell control is hidden and
    the settings of every cell (forget and update biases) are shown. With an uploaded
    `model` (shown by the page) the settings it brings itself are greyed out with a note:
    cell, size and inputs show the model's own (the layer shown); initialisation, gain,
    radius and biases keep the student's values for the drawn network.
    """
    def parse(raw):
        return one_layer.FlowConfig.from_query({**(defaults or {}), **raw})

    load_url_once(parse, prefix, _flow_widgets)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    s, off = st.sidebar, model is not None
    if off:
        s.caption(locked_note(model))
        layer = st.session_state[VIEW_KEY][0]  # set by model_layer_picker (flow_page)
        shown = model_layers.layer_shape(model)[1][layer]
    if choose_cell and off:
        _model_value("Cell", CELL_LABELS[model.cell], prefix)
    elif choose_cell:
        s.selectbox("Cell", CELLS, format_func=CELL_LABELS.get, key=k("cell"))
    cell = st.session_state[k("cell")] if choose_cell else None
    s.slider("Sequence length T", 2, one_layer.MAX_T, key=k("T"),
             help=f"Up to {one_layer.MAX_T} steps.")
    if off:
        _model_value("Hidden size H", str(shown), prefix)
    else:
        s.select_slider("Hidden size H", one_layer.HIDDEN_SIZES, key=k("H"))
    s.selectbox("Initialisation", SCHEMES, format_func=SCHEME_LABELS.get, key=k("init"),
                disabled=off)
    s.slider("Gain on W_hh", 0.0, 4.0, step=0.05, key=k("gain"), disabled=off,
             help="Multiplies the recurrent weights after they are drawn.")
    s.toggle("Set the spectral radius of W_hh", key=k("radius_on"), disabled=off)
    if st.session_state[k("radius_on")]:
        s.slider("Target spectral radius", 0.0, 4.0, step=0.01, key=k("radius"), disabled=off)
        s.radio("Measured as", RADIUS_KINDS, key=k("radius_kind"), horizontal=True, disabled=off,
                format_func={"eigen": "largest |eigenvalue|",
                             "singular": "largest singular value λ₁"}.get,
                help="Rescales each gate block of W_hh after the gain. The eigenvalue radius "
                     "decides long-run growth; λ₁ bounds every single step (Pascanu et al.).")
    if cell in ("lstm", None):
        s.slider("Forget-gate bias b_f", -10.0, 10.0, step=0.1, key=k("forget_bias"),
                 disabled=off,
                 help="1 is Keras's default (Gers et al. 2000; Jozefowicz et al. 2015).")
        s.toggle("Chrono initialisation", key=k("chrono_on"), disabled=off,
                 help="b_f ~ log U[1, T_max − 1], b_i = −b_f (Tallec & Ollivier 2018).")
        if st.session_state[k("chrono_on")]:
            s.number_input("Chrono T_max", 3, 100_000, step=10, key=k("chrono"), disabled=off)
    if cell in ("gru", None):
        s.slider("Update-gate bias b_z", -10.0, 10.0, step=0.1, key=k("update_bias"),
                 disabled=off,
                 help="Large b_z makes z ≈ 1: the GRU copies h forward and remembers.")
    if off:
        _model_value("Inputs", model_inputs_label(model), prefix)
    else:
        s.selectbox("Inputs", INPUT_KINDS, format_func=INPUT_LABELS.get, key=k("inputs"))
    s.radio("Loss on", LOSS_PLACEMENTS, format_func=LOSS_LABELS.get, key=k("loss"),
            horizontal=True)
    s.number_input("Seed", 0, 2**31 - 1, step=1, key=k("seed"))
    s.caption(f"Limits on this shared server: T ≤ {one_layer.MAX_T}, H ≤ "
              f"{one_layer.HIDDEN_SIZES[-1]}, {one_layer.BATCH} sequences per batch; maps "
              f"sample at most {one_layer.MAX_MAP_STEPS} steps per axis.")
    state = st.session_state
    raw = {f.key: state.get(k(f.key)) for f in one_layer.FIELDS}
    raw["radius"] = state[k("radius")] if state[k("radius_on")] else None
    raw["chrono"] = state.get(k("chrono")) if state.get(k("chrono_on")) else None
    config, notices = one_layer.FlowConfig.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return config


def flow_page(title: str, icon: str, choose_cell: bool = True, overlay: bool = False,
              page: str | None = None, shows_model: bool = True):
    """The frame of every page built on the gradient-flow settings; returns the settings,
    and with overlay=True also the one_layer.Overlay (one knob, several values).

    shows_model: the page shows a layer of the session's uploaded model when there is one
    (`model_view`): its layer picker is drawn and the settings the model ignores greyed out.
    """
    menu_slot = page_frame(title, icon)
    model = current_model() if shows_model else None
    if model is not None:
        model_layer_picker(model)
    config = flow_controls(choose_cell=choose_cell, defaults=PAGE_DEFAULTS.get(page),
                           model=model)
    chosen = overlay_controls(locked=model is not None) if overlay else one_layer.Overlay()
    query = write_url({**config.to_query(), **chosen.to_query()}, "fl")
    st.session_state["_ov_url"] = st.session_state["_fl_url"]
    menu(menu_slot, query)
    share_link(query)
    show_notices("fl")
    show_notices("ov")
    return (config, chosen) if overlay else config


OVERLAY_LABELS = {"gain": "gain on W_hh", "forget_bias": "LSTM forget-gate bias",
                  "update_bias": "GRU update-gate bias", "T": "sequence length T",
                  "init": "initialisation", "H": "hidden size H", "inputs": "inputs",
                  "seed": "seed"}


def _overlay_widgets(o: one_layer.Overlay) -> dict:
    return {"vary": o.knob or "", "values": o.to_query().get("values", "")}


def overlay_controls(prefix: str = "ov", locked: bool = False) -> one_layer.Overlay:
    """Sidebar controls of the overlay: which knob, which values (in the URL). Locked (an
    uploaded model is shown): greyed out, and no overlay (its curves are drawn networks)."""
    load_url_once(one_layer.Overlay.from_query, prefix, _overlay_widgets)
    s = st.sidebar.expander("Compare values of one setting", icon=":material/stacked_line_chart:",
                            expanded=bool(st.session_state.get(f"{prefix}_vary")) and not locked)
    if locked:
        s.caption("Off while your model is shown: each curve would be a drawn network.")
    knob = s.selectbox("Draw one curve for each value of", ("",) + tuple(one_layer.OVERLAY_DEFAULTS),
                       format_func=lambda k: OVERLAY_LABELS.get(k, "nothing (one curve)"),
                       key=f"{prefix}_vary", disabled=locked,
                       on_change=lambda: st.session_state.update({f"{prefix}_values": ""}))
    if locked:
        return one_layer.Overlay()
    if knob:
        s.text_input("Values, separated by commas", key=f"{prefix}_values",
                     placeholder=", ".join(one_layer.OVERLAY_DEFAULTS[knob]),
                     help=f"At most {one_layer.MAX_OVERLAY}; everything else stays as set above.")
    raw = {"vary": knob or None, "values": st.session_state.get(f"{prefix}_values", "")}
    chosen, notices = one_layer.Overlay.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return chosen


def figure(name: str, *args, **kwargs):
    """`plots.<name>(*args, **kwargs)`, built for each view. Not cached: a figure is plain
    dicts wrapped once (1-3 ms, scripts/bench_figures.py), less than hashing its arrays to
    look it up (blake2b over every array: ~15 ms a view in a class, scripts/class_load.py)."""
    return getattr(plots, name)(*args, **kwargs)


@contextlib.contextmanager
def computing(message: str):
    """A spinner while the page computes. On a session's first view also a blank chart, so
    that the browser loads Plotly's library (~1.5 s on two busy cores) while the server
    computes, instead of after it."""
    slot = st.empty()
    if not st.session_state.get("_plotly_requested"):
        st.session_state["_plotly_requested"] = True
        slot.plotly_chart(figure("blank"), width="stretch", config={"displayModeBar": False})
    with st.spinner(message):
        yield
    slot.empty()


# Results are kept per setting for every visitor; the bounds keep a class's worth of
# settings within the hosted app's memory (a (1000, 128) map is 0.5 MB).
@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def gradient_flow(config: one_layer.FlowConfig) -> one_layer.FlowResult:
    return one_layer.gradient_flow(config)


_STOP_WARMING = threading.Event()
WARM_UP_DELAY_S = 3.0
WARM_UP_THREADS = 2  # both cores while nobody visits; each gives way to any visitor
_WARMERS: list[threading.Thread] = []


@atexit.register
def _stop_warming() -> None:
    # A compile thread killed mid-compile at interpreter exit aborts the process; let the
    # current compile finish instead.
    _STOP_WARMING.set()
    for thread in _WARMERS:
        thread.join()


@st.cache_data(max_entries=CACHE_ENTRIES // 4, show_spinner=False)  # up to 4 MB each
def gate_activity(config: one_layer.FlowConfig) -> one_layer.GateResult:
    return one_layer.gate_activity(config)


@st.cache_data(max_entries=CACHE_ENTRIES // 2, show_spinner=False)
def jacobian_analysis(config: one_layer.FlowConfig) -> one_layer.JacobianResult:
    return one_layer.jacobian_analysis(config)


@st.cache_data(max_entries=CACHE_ENTRIES // 2, show_spinner=False)
def connectivity_map(config: one_layer.FlowConfig) -> one_layer.ConnectivityResult:
    return one_layer.connectivity_map(config)


@st.cache_resource(show_spinner=False)
def start_warm_up() -> list[threading.Thread]:
    """Compile the whole catalogue of programs (rnnviz/experiments/catalogue.py) in the background,
    once per process (the first run of any page starts it; so does
    /_stcore/script-health-check, which runs the home page), so that no visitor ever waits
    for a compile: the programs of the defaults and presets first, without pausing, then
    the rest while nobody is compiling.

    Each program is compiled, then run once on placeholder inputs (`catalogue.warm_up`),
    and pinned in memory for the life of the process (`programs.pinned`). The threads run at the lowest priority and give
    way to any visitor's compile (README, "Performance": how long it takes).
    """
    plan = catalogue.programs()
    first = sum(p.first for p in plan)
    lock = threading.Lock()
    position = [0]  # the plan's next item: the threads share one plan
    started = time.monotonic()

    def items(stop: int):  # the next items, up to item `stop`
        while True:
            with lock:
                i = position[0]
                if i >= stop:
                    return
                position[0] += 1
            if i and i % max(1, len(plan) // 10) == 0:  # in the server's log, every 10%
                print(f"rnnviz warm-up: {i} of {len(plan)} programs after "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            yield plan[i]

    def work():
        # Start once the browser has drawn this view: compiling holds Python's lock, which
        # the server needs to send the view (measured: first view 0.9 s later without this).
        if _STOP_WARMING.wait(WARM_UP_DELAY_S):
            return
        t0 = time.monotonic()
        # The defaults' and presets' programs first and without pausing for visitors (the
        # teacher's next steps); the rest while no visitor compiles.
        done = catalogue.warm_up(items(first), _STOP_WARMING.is_set,
                                 on_error=_warm_up_failed, patient=False)
        done += catalogue.warm_up(items(len(plan)), _STOP_WARMING.is_set,
                                  on_error=_warm_up_failed, patient=False)
        # In the server's log: how long a teacher should leave the app before class.
        print(f"rnnviz warm-up: {threading.current_thread().name} compiled {done} programs "
              f"in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    threads = [threading.Thread(target=work, daemon=True, name=f"rnnviz-warm-up-{i}")
               for i in range(WARM_UP_THREADS)]
    _WARMERS.extend(threads)
    for thread in threads:
        thread.start()
    return threads


def _warm_up_failed(program, error) -> None:
    print(f"rnnviz warm-up: {program.family} ({program.label}) skipped: {error!r}",
          file=sys.stderr, flush=True)


def warm_up_wanted() -> bool:
    """Whether this server warms up: not under Streamlit's AppTest (tests count compiles,
    and minutes of background compiling would slow them), nor with RNNVIZ_WARM_UP=0."""
    from streamlit import config as st_config  # st.get_option misses AppTest's override

    return (os.environ.get("RNNVIZ_WARM_UP", "1") != "0"
            and not st_config.get_option("global.appTest"))


CELL_EQUATIONS = {
    "rnn": r"h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})",
    "rnn_relu": r"h_t = \mathrm{relu}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})",
    "lstm": r"""\begin{aligned}
i_t, f_t, o_t &= \sigma(W_{i\cdot} x_t + b_{i\cdot} + W_{h\cdot} h_{t-1} + b_{h\cdot}),\quad
g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)
\end{aligned}""",
    "gru": r"""\begin{aligned}
r_t, z_t &= \sigma(W_{i\cdot} x_t + b_{i\cdot} + W_{h\cdot} h_{t-1} + b_{h\cdot}),\quad
n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
\end{aligned}""",
}
CELL_NOTES = {
    "rnn": "Elman RNN, as PyTorch's `nn.RNN`.",
    "rnn_relu": "Elman RNN with relu, as `nn.RNN(nonlinearity='relu')`.",
    "lstm": "LSTM with forget gate (Hochreiter & Schmidhuber 1997; Gers et al. 2000), "
            "PyTorch's `nn.LSTM`; gate order i, f, g, o.",
    "gru": "GRU in PyTorch's form (= Keras `reset_after=True`): the reset gate multiplies "
           "W_hn h + b_hn *after* the product. Cho et al.'s paper applies it before, a "
           "different model.",
}
BPTT_EQUATION = (
    r"\frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T}\,"
    r"J_T J_{T-1}\cdots J_{t+1},\qquad J_k = \frac{\partial h_k}{\partial h_{k-1}}"
    r"= \mathrm{diag}(\mathrm{act}'(a_k))\,W_{hh}\ \text{(vanilla)}"
)


def cell_equations(cell: str) -> None:
    st.latex(CELL_EQUATIONS[cell])
    st.caption(CELL_NOTES[cell])


# ---------------------------------------------------------------------------------------
# Training lab

TRAIN_OPTIONAL = ("spectral_radius", "forget_bias", "chrono_tmax", "update_bias", "clip",
                  "truncate")
TRAIN_OFF_VALUE = {"spectral_radius": 1.0, "forget_bias": 1.0, "chrono_tmax": 50.0,
                   "update_bias": 1.0, "clip": 1.0, "truncate": 10}


def _lab_widgets(lab) -> dict:
    config, compare = lab
    values = asdict(config)
    for name in TRAIN_OPTIONAL:
        values[f"{name}_on"] = values[name] is not None
        if values[name] is None:
            values[name] = TRAIN_OFF_VALUE[name]
    values["compare"] = compare
    return values


def lab_query(config: train.TrainConfig, compare: bool) -> dict[str, str]:
    return {**train.config_to_query(config), "compare": "true" if compare else "false"}


def train_controls(prefix: str = "tr") -> tuple[train.TrainConfig, bool]:
    """The Training lab's sidebar, bound to the URL; returns (config, compare mode)."""
    load_url_once(train.lab_from_query, prefix, _lab_widgets)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    state, s, b = st.session_state, st.sidebar, train.BOUNDS

    def optional(name, label, widget, **kwargs):
        s.toggle(label, key=k(f"{name}_on"))
        if state[k(f"{name}_on")]:
            widget(label + " value", *b[name], key=k(name), label_visibility="collapsed",
                   **kwargs)

    s.toggle("Compare RNN, LSTM and GRU", key=k("compare"),
             help="Train all three cells on the same task, seed and budget.")
    s.selectbox("Task", tuple(TASKS), format_func=lambda t: TASKS[t].label.split(" (")[0],
                key=k("task"), help="The adding and copy-memory problems are those of "
                "Arjovsky, Shah & Bengio 2016.")  # the short name fits a 1024-pixel sidebar
    s.slider("Task length T", *b["T"], key=k("T"), help=f"At most {b['T'][1]} (training "
             "runs on a shared CPU). Copy memory is T + 20 steps long.")
    if not state[k("compare")]:
        s.selectbox("Cell", CELLS, format_func=CELL_LABELS.get, key=k("cell"))
    s.slider("Hidden size H", *b["hidden_size"], key=k("hidden_size"))
    s.selectbox("Initialisation", SCHEMES, format_func=SCHEME_LABELS.get, key=k("scheme"))
    s.number_input("Gain on W_hh", *b["gain"], step=0.05, key=k("gain"))
    optional("spectral_radius", "Set the spectral radius", s.number_input, step=0.05)
    s.radio("Radius measured as", RADIUS_KINDS, key=k("radius_kind"), horizontal=True)
    optional("forget_bias", "LSTM forget-gate bias", s.number_input, step=0.5)
    optional("chrono_tmax", "LSTM chrono init, T_max", s.number_input, step=10.0)
    optional("update_bias", "GRU update-gate bias", s.number_input, step=0.5)
    s.selectbox("Optimiser", train.OPTIMIZERS, format_func=train.OPTIMIZER_LABELS.get,
                key=k("optimizer"))
    s.number_input("Learning rate", *b["learning_rate"], step=0.001, format="%.4g",
                   key=k("learning_rate"))
    optional("clip", "Clip the gradient norm at θ", s.number_input, step=0.5, format="%.3g")
    _truncate_control(state, s, k)
    s.slider("Batch size", *b["batch_size"], key=k("batch_size"))
    s.number_input("Training steps", *b["steps"], step=100, key=k("steps"),
                   help=f"At most {b['steps'][1]}.")
    s.number_input("Seed", *b["seed"], step=1, key=k("seed"))
    s.caption(f"Limits on this shared server: T ≤ {b['T'][1]}, H ≤ {b['hidden_size'][1]}, "
              f"batch ≤ {b['batch_size'][1]}, steps ≤ {b['steps'][1]}, and "
              f"{train.WALL_CLOCK_LIMIT_S:.0f} s per run.")
    raw = {f.key: state.get(k(f.key)) for f in train.FIELDS}
    for name in TRAIN_OPTIONAL:
        raw[name] = state[k(name)] if state[k(f"{name}_on")] else None
    raw["compare"] = state[k("compare")]
    (config, compare), notices = train.lab_from_query(raw)
    for notice in notices:
        st.warning(notice)
    return config, compare


def _truncate_control(state, s, k) -> None:
    """Truncated BPTT: a toggle, then k from 1 to the task's sequence length L."""
    s.toggle("Truncate backpropagation after k steps", key=k("truncate_on"),
             help="The gradient is cut every k steps, as PyTorch's h = h.detach() between "
             "chunks (and Keras's stateful training) do; the forward pass is unchanged.")
    if state[k("truncate_on")]:
        length = TASKS[state[k("task")]].length(state[k("T")])
        # Before the slider exists in this run: a k beyond a shortened task is clamped to it.
        state[k("truncate")] = max(1, min(int(state[k("truncate")]), length))
        s.slider("k, steps per chunk", 1, length, key=k("truncate"),
                 help=f"From 1 to the sequence's {length} steps (k = {length}: full BPTT).")


def trained_model(cell: str) -> dict | None:
    """The model of `cell` last trained in this session's Training lab, if any."""
    return st.session_state.get("trained", {}).get(cell)


def trained_model_caption(trained: dict) -> str:
    c = trained["config"]
    return (f"Trained in the Training lab of this session: {TASKS[c.task].label}, T = {c.T}, "
            f"H = {c.hidden_size}, {c.steps} steps. Measured on the task's own probe batch.")


def trained_gates(trained: dict) -> tuple[dict, dict]:
    """Gate activations of a trained model and of its initialisation, on the probe batch."""
    key = ("_gates", id(trained["params"]))
    if key not in st.session_state:
        st.session_state[key] = train.gates_before_after(trained["config"], trained["params"])
    return st.session_state[key]


# ---------------------------------------------------------------------------------------
# Deep & bidirectional networks, and models students bring


def _deep_widgets(c: deep.DeepConfig) -> dict:
    return asdict(c)


def deep_controls(prefix: str = "dp", model=None) -> deep.DeepConfig:
    """The Deep & bidirectional page's sidebar, bound to the URL. With an uploaded `model`
    the settings it brings itself are greyed out with a note (cell, layers, directions,
    size, initialisation, gain, biases, inputs), and "Loss reads" too where the model
    dictates its reading (a Keras Bidirectional top layer with return_sequences=False)."""
    load_url_once(deep.DeepConfig.from_query, prefix, _deep_widgets)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    s, state = st.sidebar, st.session_state
    off = model is not None
    fixed_read = off and getattr(model, "reads_final_states", False)
    if off:
        s.caption(locked_note(model))
        directions, sizes = model_layers.layer_shape(model)
        _model_value("Cell", CELL_LABELS[model.cell], prefix)
        _model_value("Layers", str(len(directions)), prefix)
        _model_value("Directions", ", then ".join(
            "two (bidirectional)" if D == 2 else "one" for D in
            (directions if len(set(directions)) > 1 else directions[:1])), prefix)
    else:
        s.selectbox("Cell", CELLS, format_func=CELL_LABELS.get, key=k("cell"))
        s.slider("Layers", 1, deep.MAX_LAYERS, key=k("layers"))
        s.toggle("Bidirectional", key=k("bidirectional"),
                 help="Each layer also reads the sequence from the end; the next layer reads "
                      "both directions' outputs side by side.")
    if fixed_read:  # shown as the model reads; the student's setting kept for drawn networks
        state[f"_{prefix}_model_read"] = "last"
        s.radio("Loss reads", deep.READS, format_func=deep.READ_LABELS.get,
                key=f"_{prefix}_model_read", horizontal=True, disabled=True)
    else:
        s.radio("Loss reads", deep.READS, format_func=deep.READ_LABELS.get,
                key=k("read"), horizontal=True)
    if fixed_read:
        s.caption("Your model's last layer is a Keras Bidirectional with return_sequences="
                  "False: its output is the forward state after the last step and the "
                  "backward state after x₀, so that is what the loss reads.")
    s.slider("Sequence length T", 2, deep.MAX_T, key=k("T"))
    if off:
        _model_value("Hidden size H (per direction)",
                     ", ".join(str(H) for H in dict.fromkeys(sizes)), prefix)
    else:
        s.select_slider("Hidden size H (per direction)", deep.HIDDEN_SIZES, key=k("H"))
    s.selectbox("Initialisation", SCHEMES, format_func=SCHEME_LABELS.get, key=k("init"),
                disabled=off)
    s.slider("Gain on W_hh", 0.0, 4.0, step=0.05, key=k("gain"), disabled=off)
    if state[k("cell")] == "lstm":
        s.slider("Forget-gate bias b_f", -10.0, 10.0, step=0.1, key=k("forget_bias"),
                 disabled=off)
    if state[k("cell")] == "gru":
        s.slider("Update-gate bias b_z", -10.0, 10.0, step=0.1, key=k("update_bias"),
                 disabled=off)
    if off:
        _model_value("Inputs", model_inputs_label(model), prefix)
    else:
        s.selectbox("Inputs", INPUT_KINDS, format_func=INPUT_LABELS.get, key=k("inputs"))
    s.number_input("Seed", 0, 2**31 - 1, step=1, key=k("seed"))
    s.caption(f"Limits on this shared server: layers ≤ {deep.MAX_LAYERS}, T ≤ "
              f"{deep.MAX_T}, H ≤ {deep.HIDDEN_SIZES[-1]} per direction.")
    raw = {f.key: state.get(k(f.key)) for f in deep.FIELDS}
    raw["radius"] = raw["chrono"] = None
    config, notices = deep.DeepConfig.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return config


# The student's model lives in the session, under one key, and follows them to every page:
# each page shows it (a layer of it, on the single-layer pages) or says in its main area
# that it shows another network, why, and where the model is shown.
MODEL_KEY = "uploaded_model"  # {"name", "size", "model": LoadedModel, "ambiguous": bool}
MODEL_ERROR_KEY = "_model_error"  # {"name", "size", "message"} of a file that was refused
_UPLOADER_N = "_model_uploader"  # the uploader's key is numbered: a new number empties it
VIEW_KEY = "model_view"  # (layer, direction) the single-layer pages show
ACT_KEY = "model_act"  # a 1-gate PyTorch file's nonlinearity: "rnn" (tanh) or "rnn_relu"
_MEMO_KEY = "_model_memo"  # the model's results, this session only (not cached for others)
MEMO_ENTRIES = 8
FLOW_PAGE = "pages/1_Gradient_flow.py"
MODEL_FORMATS = "PyTorch state_dict (.safetensors, .npz) or Keras 3 (.keras)"


def plain(text: str) -> str:
    """Text from a user's file (names, layer labels) made safe to show in Markdown: every
    ASCII punctuation mark escaped, so no link, image, HTML, LaTeX or :directive: renders."""
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        out.append("\\" + ch if ch.isascii() and not ch.isalnum() and not ch.isspace() else ch)
    return "".join(out)


def current_model():
    """The model uploaded in this session (a model_files.LoadedModel), or None."""
    entry = st.session_state.get(MODEL_KEY)
    if entry is None:
        return None
    model = entry["model"]
    if entry.get("ambiguous") and st.session_state.get(ACT_KEY) == "rnn_relu":
        model = model._replace(cell="rnn_relu")
    return model


def keep_model(name: str, size: int, model) -> None:
    """Make `model` this session's model (what an upload does; tests call it directly)."""
    ambiguous = model.cell == "rnn" and not name.lower().endswith(".keras")
    st.session_state[MODEL_KEY] = {"name": name, "size": size, "model": model,
                                   "ambiguous": ambiguous}
    st.session_state[VIEW_KEY] = model_layers.default_choice(model)
    st.session_state[ACT_KEY] = "rnn"
    st.session_state.pop(MODEL_ERROR_KEY, None)
    st.session_state.pop(_MEMO_KEY, None)


def remove_model() -> None:
    """Forget the session's model and empty the uploader (a new key: Streamlit cannot set
    a file uploader's value)."""
    for key in (MODEL_KEY, MODEL_ERROR_KEY, VIEW_KEY, _MEMO_KEY):
        st.session_state.pop(key, None)
    st.session_state[_UPLOADER_N] = st.session_state.get(_UPLOADER_N, 0) + 1


def _same_file(file, entry) -> bool:
    return entry is not None and (entry["name"], entry["size"]) == (file.name, file.size)


def _load_upload(file) -> None:
    try:
        if file.size > model_files.MAX_BYTES:
            raise ValueError(f"{file.name} is {file.size / model_files.MB:.1f} MB; files "
                             f"of at most {model_files.MAX_BYTES // model_files.MB} MB are read.")
        model = model_files.load_model_file(file.name, file.getvalue())
    except ValueError as e:
        for key in (MODEL_KEY, VIEW_KEY, _MEMO_KEY):
            st.session_state.pop(key, None)
        st.session_state[MODEL_ERROR_KEY] = {"name": file.name, "size": file.size,
                                             "message": str(e)}
        return
    keep_model(file.name, file.size, model)


def model_sidebar() -> None:
    """The sidebar box of the session's model, on every page (called by `page_frame`):
    upload, what was read, the nonlinearity of a 1-gate PyTorch file, and Remove. A file
    that was refused gets the loader's message here and in the main area."""
    state = st.session_state
    key = f"model_file_{state.get(_UPLOADER_N, 0)}"
    file = state.get(key)  # the uploader's file, as the browser last sent it
    if file is not None and not _same_file(file, state.get(MODEL_KEY)) \
            and not _same_file(file, state.get(MODEL_ERROR_KEY)):
        _load_upload(file)  # first, so that the box's label names the model just read
    entry = state.get(MODEL_KEY)
    label = ("Bring your own model" if entry is None
             else f"Your model: {model_layers.model_words(entry['model'])}")
    box = st.sidebar.expander(label, icon=":material/upload_file:", expanded=file is not None)
    box.file_uploader(
        MODEL_FORMATS, type=["safetensors", "npz", "keras"], key=key,
        help=f"At most {model_files.MAX_BYTES // model_files.MB} MB. Read as data (no pickle); "
             "kept in this session only, on every page, until you remove it (the button "
             "below; emptying this box keeps it).")
    error = state.get(MODEL_ERROR_KEY)
    if error is not None and file is not None and _same_file(file, error):
        box.error(plain(error["message"]), icon=":material/error:")
    if entry is None:
        return
    box.success(plain(entry["model"].source), icon=":material/check_circle:")
    box.caption(f"From {plain(entry['name'])}, kept for this session: every page shows it or "
                "says why not.")
    if entry.get("ambiguous"):
        box.radio("Its nonlinearity", ("rnn", "rnn_relu"), key=ACT_KEY, horizontal=True,
                  format_func={"rnn": "tanh", "rnn_relu": "relu"}.get,
                  help="A PyTorch nn.RNN stores the same weights for tanh and relu: say which "
                       "one it was built with (nonlinearity=...).")
    box.button("Remove this model", icon=":material/delete:", on_click=remove_model,
               key="model_remove")


def model_refused_notice() -> None:
    """In the main area, on the page where a file was refused: why, and what is drawn."""
    error = st.session_state.get(MODEL_ERROR_KEY)
    key = f"model_file_{st.session_state.get(_UPLOADER_N, 0)}"
    file = st.session_state.get(key)
    if error is None or file is None or not _same_file(file, error):
        return
    st.error(f"Your file {plain(error['name'])} could not be read: {plain(error['message'])} "
             "This page shows its own drawn network.", icon=":material/error:")


def model_layer_picker(model) -> tuple[int, int]:
    """The sidebar control of which layer and direction of the model the single-layer
    pages show; the choice follows the student from page to page."""
    state = st.session_state
    options = model_layers.choices(model)
    chosen = state.get(VIEW_KEY)
    if chosen not in options:
        chosen = model_layers.default_choice(model)
        state[VIEW_KEY] = chosen
    if len(options) == 1:
        return chosen
    state["_model_view_widget"] = chosen  # the widget forgets its value on other pages
    st.sidebar.selectbox(
        "Layer of your model shown here", options, key="_model_view_widget",
        format_func=lambda c: model_layers.choice_label(model, c),
        on_change=lambda: state.update({VIEW_KEY: state["_model_view_widget"]}),
        help="These pages analyse one recurrent layer: this one, run inside your model (it "
             "reads the outputs of the layers below). Deep & bidirectional shows every layer.")
    return chosen


def model_view(config) -> model_layers.LayerView | None:
    """The chosen layer of the session's model on the page's inputs (length T, seed), or
    None without a model. Kept for the session (the last few), not shared."""
    model = current_model()
    if model is None:
        return None
    choice = st.session_state.get(VIEW_KEY)
    if choice not in model_layers.choices(model):
        choice = model_layers.default_choice(model)
    xs = deep.model_inputs(model, deep.DeepConfig(T=config.T, seed=config.seed))
    return session_memo(("view", model.cell, choice, config.T, config.seed),
                        lambda: model_layers.layer_view(model, xs, config.T, choice))


def drawn_or_model(config, name: str, drawn, of_model):
    """(config, view, result) of a single-layer page: `drawn(config)` (cached for everyone)
    without a model; with one, `of_model(config, params, xs)` on the chosen layer of the
    student's model, kept for this session only, and the config given that layer's cell and
    size."""
    view = model_view(config)
    if view is None:
        return config, None, drawn(config)
    config = model_config(config, view)
    return config, view, session_memo((name, view.title, config),
                                      lambda: of_model(config, view.params, view.xs))


def session_memo(key, compute):
    """`compute()` kept under `key` for this session's model (its results are not cached
    for other visitors); the last MEMO_ENTRIES only."""
    memo = st.session_state.setdefault(_MEMO_KEY, {})
    if key not in memo:
        while len(memo) >= MEMO_ENTRIES:
            memo.pop(next(iter(memo)))
        # An uploaded model is the one thing outside the catalogue of compiled programs
        # (rnnviz/experiments/catalogue.py): its shapes are its own, so its first views compile.
        with st.spinner(PREPARING_MODEL):
            memo[key] = compute()
    return memo[key]


PREPARING_MODEL = ("Preparing your model: its layers have their own sizes, so the programs "
                   "that compute them are compiled for this session first (a few seconds, "
                   "once per view).")


def model_config(config, view: model_layers.LayerView):
    """A single-layer page's settings with the cell and size of the model's layer."""
    return replace(config, cell=view.cell, H=view.hidden_size)


def model_view_note(view: model_layers.LayerView, what: str = "", loss: bool = False) -> None:
    """In the main area: this page shows the student's model, which part, on which inputs
    (and with `loss`, where the page's loss reads it)."""
    model = current_model()
    lines = [f"**Showing your model: {plain(model.source)}**",
             f"{view.title}{what}. {view.inputs}"]
    if not model_layers.is_one_layer(model) and loss:
        lines.append("This page analyses one layer (one direction) as if alone: the loss "
                     "reads its own output through a readout of norm 1, not your model's head. "
                     "Choose the layer in the sidebar; every layer at once is on Deep & "
                     "bidirectional.")
    elif not model_layers.is_one_layer(model):
        lines.append("This page analyses one layer: its states are the ones it has inside "
                     "your model, and the layers above it are left out. Choose the layer in "
                     "the sidebar; every layer at once is on Deep & bidirectional.")
    st.info("\n\n".join(lines), icon=":material/upload_file:")
    if not model_layers.is_one_layer(model):
        st.page_link(DEEP_PAGE, label="Every layer and direction of your model: Deep & "
                     "bidirectional",
                     icon=":material/stacks:")


def model_elsewhere(why: str) -> None:
    """In the main area of a page that does not draw the session's model: say so, why, and
    link to the pages that show it."""
    entry = st.session_state.get(MODEL_KEY)
    if entry is None:
        return
    st.info(f"This page shows a drawn network, not your model (the "
            f"{model_layers.model_words(entry['model'])} of {plain(entry['name'])}): {why}",
            icon=":material/info:")
    left, right = st.columns(2)
    left.page_link(FLOW_PAGE, label="Your model on Gradient flow", icon=":material/trending_down:")
    right.page_link(DEEP_PAGE, label="Your model on Deep & bidirectional", icon=":material/stacks:")


def locked_note(model) -> str:
    return (f"Greyed out: your {model_layers.model_words(model)} has its own cell, size and "
            "inputs; initialisation, gain and biases are for drawn networks. T, the loss and "
            "the seed (it draws the inputs) still apply.")


def model_inputs_label(model) -> str:
    if model.embedding is not None:
        return "random token ids (Embedding)"
    return f"Gaussian noise N(0, 1), I = {model.input_size}"


def _model_value(label: str, text: str, prefix: str) -> None:
    """A greyed-out control that shows the uploaded model's own value of a setting (its own
    key: the student's setting for drawn networks stays as it was)."""
    key = f"_{prefix}_model_{label.split()[0].lower()}"
    st.session_state[key] = text
    st.sidebar.selectbox(label, (text,), key=key, disabled=True)


@st.cache_data(max_entries=CACHE_ENTRIES // 4, show_spinner=False)
def deep_flow(config: deep.DeepConfig) -> deep.DeepResult:
    return deep.deep_flow(config)


@st.cache_data(max_entries=CACHE_ENTRIES // 4, show_spinner=False)
def two_sided(config: deep.DeepConfig) -> deep.TwoSidedResult:
    return deep.two_sided(config)



def architecture_controls(prefix: str = "ar") -> architectures.ArchConfig:
    """The Architectures page's sidebar, bound to the URL."""
    load_url_once(architectures.ArchConfig.from_query, prefix, asdict)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    fields = {f.key: f for f in architectures.FIELDS}
    s = st.sidebar
    s.selectbox(fields["cell"].label, architectures.CELLS, format_func=CELL_LABELS.get,
                key=k("cell"))
    s.slider(fields["T"].label, fields["T"].lo, fields["T"].hi, key=k("T"),
             help="Steps of each sequence; the encoder–decoder reads T and writes T.")
    s.select_slider(fields["H"].label, architectures.HIDDEN_SIZES, key=k("H"))
    s.selectbox(fields["init"].label, SCHEMES, format_func=SCHEME_LABELS.get, key=k("init"))
    s.number_input(fields["gain"].label, fields["gain"].lo, fields["gain"].hi, step=0.05,
                   key=k("gain"))
    s.number_input(fields["seed"].label, fields["seed"].lo, fields["seed"].hi, step=1,
                   key=k("seed"))
    raw = {f.key: st.session_state.get(k(f.key)) for f in architectures.FIELDS}
    config, notices = architectures.ArchConfig.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return config


def seq2seq_controls(prefix: str = "s2") -> seq2seq_lab.Seq2SeqPage:
    """The Encoder–decoder page's sidebar, bound to the URL (the typed source is on the
    page, `st.text_input` keyed f"{prefix}_source")."""
    load_url_once(seq2seq_lab.Seq2SeqPage.from_query, prefix, asdict)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    fields = {f.key: f for f in seq2seq_lab.FIELDS}
    s = st.sidebar
    s.selectbox(fields["cell"].label, seq2seq.CELLS, format_func=CELL_LABELS.get, key=k("cell"))
    s.radio(fields["task"].label, seq2seq_lab.TASKS, key=k("task"), horizontal=True,
            format_func={"copy": "Copy", "reverse": "Reverse"}.get,
            help="Write the source back as it is, or backwards.")
    s.slider(fields["L"].label, fields["L"].lo, fields["L"].hi, key=k("L"),
             help=f"Symbols of the source, from the alphabet {seq2seq.ALPHABET}.")
    s.radio(fields["variant"].label, seq2seq_lab.VARIANTS, key=k("variant"),
            format_func=lambda v: f"The plain model, and {seq2seq_lab.VARIANT_LABELS[v]}",
            help="Train will train the plain encoder–decoder and this variant, with the same "
                 "seed and budget.")
    s.number_input(fields["steps"].label, fields["steps"].lo, fields["steps"].hi, step=100,
                   key=k("steps"))
    s.number_input(fields["seed"].label, fields["seed"].lo, fields["seed"].hi, step=1,
                   key=k("seed"))
    raw = {f.key: st.session_state.get(k(f.key)) for f in seq2seq_lab.FIELDS}
    raw["source"] = st.session_state.get(k("source"), seq2seq_lab.DEFAULT_SOURCE)
    page, notices = seq2seq_lab.Seq2SeqPage.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return page


def text_controls(prefix: str = "tx") -> text_lab.TextPage:
    """The Text generator page's sidebar, bound to the URL (the text to read and the
    position are on the page, keyed f"{prefix}_read" and f"{prefix}_position")."""
    load_url_once(text_lab.TextPage.from_query, prefix, asdict)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    fields = {f.key: f for f in text_lab.FIELDS}
    s = st.sidebar
    s.radio(fields["source"].label, text_lab.SOURCES, key=k("source"),
            format_func={"shipped": "Coriolanus (shipped)", "pasted": "Paste your own"}.get)
    s.slider(fields["k"].label, fields["k"].lo, fields["k"].hi, key=k("k"),
             help="Characters per training step; the state is carried from one chunk to the "
                  "next, the gradient is not.")
    s.number_input(fields["steps"].label, fields["steps"].lo, fields["steps"].hi, step=100,
                   key=k("steps"))
    s.slider(fields["temperature"].label, fields["temperature"].lo, fields["temperature"].hi,
             step=0.05, key=k("temperature"),
             help="Samples divide the logits by it: low is safe and repetitive, high is wild.")
    s.number_input(fields["seed"].label, fields["seed"].lo, fields["seed"].hi, step=1,
                   key=k("seed"))
    raw = {f.key: st.session_state.get(k(f.key)) for f in text_lab.FIELDS}
    raw["read"] = st.session_state.get(k("read"), text_lab.DEFAULT_READ)
    page, notices = text_lab.TextPage.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return page


def words_controls(prefix: str = "wd") -> word_lab.WordsPage:
    """The Words page's sidebar (training and the sentence generator), bound to the URL;
    the sentence box itself is on the page (`sentence_box`)."""
    load_url_once(word_lab.WordsPage.from_query, prefix, asdict)
    k = lambda name: f"{prefix}_{name}"  # noqa: E731
    fields = {f.key: f for f in word_lab.FIELDS}
    s = st.sidebar
    s.toggle(fields["gru"].label, key=k("gru"),
             help="Train trains an RNN and an LSTM (with this on, a GRU too) on the same "
                  "sentences, with the same seed and budget.")
    s.select_slider(fields["H"].label, word_lab.HIDDEN_SIZES, key=k("H"))
    s.select_slider(fields["E"].label, word_lab.EMBED_SIZES, key=k("E"))
    s.number_input(fields["steps"].label, fields["steps"].lo, fields["steps"].hi, step=100,
                   key=k("steps"))
    s.slider(fields["dmax"].label, fields["dmax"].lo, fields["dmax"].hi, key=k("dmax"),
             help="Training sentences have 1 to this many words from the subject to the verb.")
    s.slider(fields["amax"].label, fields["amax"].lo, fields["amax"].hi, key=k("amax"),
             help="Attractors: nouns of the other number between the subject and the verb "
                  "(“the keys to the cabinet are”).")
    s.toggle(fields["relative"].label, key=k("relative"),
             help=f"{word_lab.RELATIVE_RATE:.0%} of the sentences get a relative clause "
                  "(“the dog that the authors like is”).")
    s.number_input(fields["seed"].label, fields["seed"].lo, fields["seed"].hi, step=1,
                   key=k("seed"))
    s.markdown("**New sentences**")
    s.slider("Words from the subject to the verb", fields["distance"].lo,
             fields["distance"].hi, key=k("distance"))
    s.slider("Attractors (nouns of the other number)", fields["attractors"].lo,
             fields["attractors"].hi, key=k("attractors"))
    raw = {f.key: st.session_state.get(k(f.key)) for f in word_lab.FIELDS}
    raw["text"] = st.session_state.get(k("text"), word_lab.DEFAULT_TEXT)
    page, notices = word_lab.WordsPage.from_query(raw)
    for notice in notices:
        st.warning(notice)
    return page


def _vocabulary(rows: int) -> list[str] | None:
    """The vocabulary file uploaded on the Words page, read (`words.read_vocabulary`), or
    None; a file that does not fit the model is named in an error and ignored."""
    file = st.file_uploader("Its vocabulary: one token per line, line i the token of id i "
                            "(`TextVectorization.get_vocabulary()`)", type=["txt"],
                            key="wd_vocabulary")
    if file is None:
        return None
    try:
        return words.read_vocabulary(file.getvalue(), rows)  # bounded there
    except ValueError as e:
        st.error(plain(str(e)), icon=":material/error:")
        return None


def words_of_model(model) -> None:
    """The Words page's section on the session's model (an Embedding, recurrent layers and
    a Dense head): a sentence typed in its vocabulary's words (or as ids), its prediction,
    and the gradient reaching each word."""
    rows = model.embedding.shape[0]
    vocabulary = _vocabulary(rows)
    label = ("A sentence for your model" if vocabulary is not None else
             f"Token ids for your model (whole numbers from 0 to {rows - 1}; upload its "
             "vocabulary to type words)")
    text = st.text_input(label, key="wd_model_text", max_chars=words.MAX_TEXT_CHARS)
    tokens = (words.ids_of(text, vocabulary) if vocabulary is not None
              else words.ids_from_numbers(text, rows))
    for notice in tokens.notices:
        st.caption(plain(notice))
    if not len(tokens.ids):
        return
    position = None
    if model.head.every_step and len(tokens.ids) > 1:
        position = st.slider("Explain the prediction made after word", 1, len(tokens.ids),
                             len(tokens.ids), key="wd_model_position") - 1
    try:
        with computing("Computing the gradient at every word…"):
            ex = session_memo(("words", tuple(int(i) for i in tokens.ids), position),
                              lambda: words.explain(model, tokens.ids, position=position))
    except ValueError as e:
        st.error(plain(str(e)), icon=":material/error:")
        return
    shown = list(tokens.words)[: ex.position + 1]
    st.plotly_chart(figure(
        "word_gradients", {word_lab.model_prediction(ex, vocabulary):
                           plots.WordRow(tuple(tokens.words), ex.grad_norms)},
        FLOOR, "‖∂ℓ/∂e_s‖: the gradient of your model's loss at each word"), width="stretch")
    st.markdown(plain(word_lab.model_reach_sentence(ex, shown)))
    st.caption("ℓ = −log p(the class explained) at the chosen word; the colour is the norm of "
               "its gradient with respect to each word's vector (your model's own Embedding).")


# Lessons ---------------------------------------------------------------------------------

LESSON_PAGE = "pages/13_Lesson.py"
# Presenter mode: no sidebar, no toolbar, the step's text in large type (the figures are
# already sized for the back row); the arrow keys move between steps.
PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stExpandSidebarButton"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 1rem; max-width: 100%; }
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] li {
  font-size: 1.45rem; line-height: 1.45; }
[data-testid="stMainBlockContainer"] h4 { font-size: 1.9rem; padding: 0 0 0.3rem 0; }
</style>"""
FOLLOWED_KEY = "ls_followed"  # the room code a student follows, kept from page to page


@st.cache_resource(show_spinner=False)
def lesson_rooms() -> rooms.Rooms:
    """The server's rooms: one registry for every session of this process."""
    return rooms.Rooms()


@st.cache_resource(show_spinner=False)
def _lesson_results() -> tuple[dict, threading.Lock, dict]:
    """step key -> result, for every session: the steps come from the lesson files, so the
    store is bounded by them. A class asks for the same step at once: one computes it (a
    lock per key), the others wait for it."""
    return {}, threading.Lock(), {}


def lesson_step(step, compute: bool = True):
    """The step rendered (lesson_view.Rendered: result, facts, figures), once per server;
    None for a training step that nobody has run yet, or where `compute` is False and
    it is not known."""
    store, guard, locks = _lesson_results()
    key = step.key()
    if key in store:
        return store[key]
    if not compute:
        return None
    with guard:
        lock = locks.setdefault(key, threading.Lock())
    with lock:
        if key not in store:
            store[key] = lesson_view.render(step, lessons.compute(step))
    return store[key]


def prefetch(step) -> None:
    """Compute `step` in the background (the step after the one shown), so that Next
    answers at once; a training step waits for its Train."""
    if step.kind.trains or lesson_step(step, compute=False) is not None:
        return
    threading.Thread(target=lesson_step, args=(step,), name="rnnviz-lesson-prefetch",
                     daemon=True).start()


def lesson_download(lesson) -> bytes:
    """The lesson as one HTML file: every step, a training step only if someone on this
    server has run it. Streamlit calls this on its download thread (no session), so only
    the process-wide store is used."""
    return lesson_view.lesson_html(lesson, [
        lesson_step(step, compute=not step.kind.trains) for step in lesson.steps]
    ).encode("utf-8")


def room_link(code: str) -> str:
    """The address a class opens to follow room `code`, on the server the teacher sees."""
    url = st.context.url or ""
    base = url.split("?", 1)[0].rsplit("/", 1)[0] if "://" in url else ""
    return f"{base}/Lesson?room={code}"


def back_to_the_teacher() -> None:
    """On every page but the lesson: a student who follows a room finds the way back."""
    code = st.session_state.get(FOLLOWED_KEY)
    if code is None:
        return
    st.session_state["ls_following"] = True  # the way back leads to the teacher's step
    st.sidebar.page_link(page_object(LESSON_PAGE), label=f"Back to the teacher (room {code})",
                         icon=":material/keyboard_return:", query_params={"room": code})
