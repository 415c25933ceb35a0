"""Figures: numpy arrays in, Plotly figures out, drawn to be read from the back of a room.

Every figure is finished by `_layout`, which applies the one template of rnnviz
(TEMPLATE, STYLE.md "Figures for a projector"):
- dark ink (INK) for every tick label, axis title and annotation, at least 15 px;
- log axes labelled at decades only (dtick = a whole number of decades, no minor labels);
- integer ticks on axes that count steps (`_integer_ticks`);
- lines labelled where they end, in their colour (`_label_lines`); no legends where such
  labels can go;
- one Okabe–Ito colour per cell (CELL_COLOURS) on every page, a light and a dark shade of
  it for "at initialisation" and "after training" (`cell_line`);
- a row of heatmaps shares one colour axis, whose bar lies under the row, so every map
  is as wide as the others;
- the title sits below the band where Plotly's toolbar appears, so it never covers it;
- nothing drawn empty: a trace that cannot be drawn is named in words where it would be
  (`_say_missing`).

Every figure is built as plain data, a list of trace dicts and a layout dict, and made a
`go.Figure` once at the end, unvalidated (`_figure`): built with Plotly's own calls
(add_trace, update_layout, make_subplots…), which validate every call, a figure took 3-60 ms
of the server's one Python thread (the GIL), for a whole class at once; from its final dict
it takes 0.5-4 ms (scripts/bench_figures.py). The dicts hold what Plotly's validation would
have made of the same calls (colour scale names expanded, `_colorscale`; make_subplots's own
grids, `_subplots`), so what is drawn is the same; tests/test_plots.py checks that every
builder's figure passes Plotly's validation.
"""
import copy
import html
import functools
import math
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from rnnviz.engine.bptt import no_dependence
from rnnviz.engine.cells import CELL_SHORT_NAMES, GATE_NAMES
from rnnviz.engine.jacobians import circle, complex_xy

# ---------------------------------------------------------------------------------------
# The template

INK = "#1a1a1a"  # text, axis lines and ticks: near-black reads on any projector
REFERENCE_INK = "#555555"  # bounds, thresholds, baselines: dark, but not data
GRID = "#d9d9d9"
TICK_SIZE = 17
AXIS_TITLE_SIZE = 18
FONT_SIZE = 17  # annotations, direct labels, legends, hover text
TITLE_SIZE = 20
MIN_FONT_SIZE = 15  # STYLE.md: nothing a student must read is smaller

# Okabe & Ito (2008), "Color universal design": distinguishable in every common form of
# colour blindness.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "purple": "#CC79A7"}
CELL_COLOURS = {"rnn": OKABE_ITO["blue"], "rnn_relu": OKABE_ITO["purple"],
                "lstm": OKABE_ITO["vermillion"], "gru": OKABE_ITO["green"]}
# Lines that are not a cell's (gates, saturation bars): the Okabe–Ito colours left over
# (yellow is too light on white).
LINE_COLOURS = (OKABE_ITO["black"], OKABE_ITO["orange"], OKABE_ITO["sky_blue"], "#7f7f7f")
GATE_ORDER = tuple(g for cell in GATE_NAMES.values() for g in cell)  # i f g o r z n
GATE_COLOURS = {g: LINE_COLOURS[i % len(LINE_COLOURS)]
                for names in GATE_NAMES.values() for i, g in enumerate(names)}
MAGNITUDE_SCALE = "Viridis"  # sequential, for magnitudes
SIGNED_SCALE = "RdBu"  # diverging, only for signed values
FLOOR_TEXT = "below 1e-30 (not resolved)"
# An exact 0 with no path to the loss is not a small value: a neutral grey of its own on
# every map, outside the colour scale, and marks of its own under a profile.
NO_DEPENDENCE_COLOUR = "#A6A6A6"
NO_DEPENDENCE_TEXT = "no dependence (exactly 0)"
NO_PATH_TEXT = "exactly 0: no path from here to the loss"

_AXIS = dict(
    tickfont=dict(size=TICK_SIZE, color=INK),
    title=dict(font=dict(size=AXIS_TITLE_SIZE, color=INK), standoff=8),
    showline=True, linecolor=INK, linewidth=1.5, mirror=False,
    ticks="outside", tickcolor=INK, tickwidth=1.5, ticklen=6,
    gridcolor=GRID, zeroline=False, automargin=True,
    minor=dict(ticks="", showgrid=False),
    exponentformat="power", showexponent="all",
)
_COLORBAR = dict(
    orientation="h", thickness=16, len=0.6, lenmode="fraction",
    x=0.0, xanchor="left", yref="paper", yanchor="top", ypad=0,
    tickfont=dict(size=TICK_SIZE, color=INK), outlinewidth=0,
    # A horizontal title on top: rotated one-letter titles rendered as "·—".
    title=dict(font=dict(size=AXIS_TITLE_SIZE, color=INK), side="top"),
)
COLORBAR_SPACE = 95  # px under the x axis title that a colour bar and its title take
COLORBAR_OFFSET = 74  # px from the bottom of the plots to the bar's title: under the x title
_TITLE = dict(
    font=dict(size=TITLE_SIZE, color=INK), x=0, xref="container", xanchor="left",
    # Plotly's toolbar appears in the top 30 px of a figure, at the right: the title
    # starts below that band, so a long title never runs under it.
    y=1, yref="container", yanchor="top", pad=dict(t=30, l=6),
)
TOP_MARGIN = 72  # room for the title under the toolbar band
UNTITLED_TOP_MARGIN = 40  # a figure without a title: room for subplot titles only
_LAYOUT = dict(
    font=dict(size=FONT_SIZE, color=INK),
    title=_TITLE,
    paper_bgcolor="white", plot_bgcolor="white",
    hoverlabel=dict(font=dict(size=FONT_SIZE)),
    legend=dict(font=dict(size=FONT_SIZE, color=INK)),
    showlegend=False,
    colorway=LINE_COLOURS,
)
TEMPLATE = go.layout.Template(layout=go.Layout(
    **_LAYOUT, xaxis=_AXIS, yaxis=_AXIS, coloraxis=dict(colorbar=_COLORBAR),
    annotationdefaults=dict(font=dict(size=FONT_SIZE, color=INK), showarrow=False),
))
pio.templates["rnnviz"] = TEMPLATE
# The template as the dict that a validated figure holds: put into every layout as it is,
# instead of validating the Template object again for each figure.
_TEMPLATE_JSON = TEMPLATE.to_plotly_json()


def _figure(data: list, layout: dict) -> go.Figure:
    """The figure of finished trace dicts and layout dict, without Plotly's validation
    (tests/test_plots.py validates every builder's figure instead)."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


@functools.lru_cache(maxsize=None)
def _named_colorscale(name: str) -> list:
    return go.layout.Coloraxis(colorscale=name).to_plotly_json()["colorscale"]


def _colorscale(scale) -> list:
    """A colour scale as Plotly's validation writes it into a figure: a named one ("Viridis")
    as its list of [position, colour] stops (the browser's own "Viridis" has other stops)."""
    if isinstance(scale, str):
        return copy.deepcopy(_named_colorscale(scale))
    return go.layout.Coloraxis(colorscale=scale).to_plotly_json()["colorscale"]


def _layout(layout: dict, title: str, height: int = 460, margin: dict | None = None,
            legend: bool = False) -> dict:
    """Apply the template to a finished figure's layout dict (changed in place, returned).

    Streamlit's chart theme rewrites a figure's *template* in the browser (grey, 12 px
    ticks), and values set on the figure itself win over it: so the template's settings
    are also written onto the figure and every axis of it.
    """
    top = TOP_MARGIN if title else UNTITLED_TOP_MARGIN
    _deep_update(layout, {**_LAYOUT, "showlegend": legend, "height": height})
    _deep_update(layout, {"title": {"text": title},
                          "margin": dict(dict(l=80, r=30, t=top, b=70), **(margin or {}))})
    for name in ("xaxis", "yaxis", *[k for k in layout if k[1:5] == "axis" and k[0] in "xy"]):
        _deep_update(layout.setdefault(name, {}), _AXIS)
    for name, axis in layout.items():  # every shared colour axis: the bar's defaults under it
        if name.startswith("coloraxis") and axis.get("colorscale"):
            axis["colorbar"] = _deep_update(_deep_update({}, _COLORBAR), axis.get("colorbar", {}))
    for a in layout.get("annotations", ()):
        font = a.setdefault("font", {})
        font["size"] = max(FONT_SIZE, MIN_FONT_SIZE)
        font.setdefault("color", INK)
    layout["template"] = _TEMPLATE_JSON
    return layout


def _deep_update(base: dict, update: dict) -> dict:
    """`base` with `update` merged in, nested dicts merged key by key (as Plotly's
    `update` does): returns `base`."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = _deep_update({}, value) if isinstance(value, dict) else value
    return base


def _merge(base: dict, override: dict) -> dict:
    """`base` with the values set in `override` on top (one level deep)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and key in out else value
    return out


def _axis_name(ref: str | None, letter: str) -> str:
    """The layout key of an axis reference: "x" -> "xaxis", "y2" -> "yaxis2"."""
    ref = ref or letter
    return ("xaxis" if letter == "x" else "yaxis") + ref[1:]


def _axis(layout: dict, ref: str) -> dict:
    """The dict of axis `ref` ("x", "y2") in a layout, made empty if it has none."""
    return layout.setdefault(_axis_name(ref, ref[0]), {})


def _title(axis: dict, text: str) -> dict:
    """An axis dict with its title's text set (keeping the title's font)."""
    axis.setdefault("title", {})["text"] = text
    return axis


def _annotate(layout: dict, **annotation) -> None:
    layout.setdefault("annotations", []).append(annotation)


def shade(colour: str, amount: float) -> str:
    """`colour` mixed with white (amount > 0) or with black (amount < 0)."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.float64)
    target = 255.0 if amount > 0 else 0.0
    mixed = rgb + (target - rgb) * abs(amount)
    return "#" + "".join(f"{int(round(c)):02X}" for c in mixed)


class Line(NamedTuple):
    """How one line is drawn and labelled."""

    colour: str
    dash: str = "solid"
    width: float = 3.5
    label_colour: str | None = None  # the direct label's text (default: colour)
    marker: str | None = None  # a Plotly marker symbol along the line (e.g. a direction's)
    label_side: str | None = None  # "left"/"right": the end it is named at (default: the
    # figure's)


STAGES = ("init", "trained")
INIT_LIGHTEN, INIT_LABEL_LIGHTEN, TRAINED_DARKEN = 0.5, 0.2, 0.15


def cell_line(cell: str, stage: str | None = None, dash: str = "solid") -> Line:
    """The line of a cell: its colour, or for stage "init" a light dashed shade and for
    "trained" a dark shade of it, so that the two lines of one cell pair up."""
    colour = CELL_COLOURS[cell]
    if stage == "init":
        return Line(shade(colour, INIT_LIGHTEN), "dash", 3.5,
                    shade(colour, INIT_LABEL_LIGHTEN))
    if stage == "trained":
        return Line(shade(colour, -TRAINED_DARKEN), dash, 4.0)
    if stage is not None:
        raise ValueError(f"stage must be one of {STAGES} or None, not {stage!r}")
    return Line(colour, dash)


BOUND_LINE = Line(REFERENCE_INK, "dash", 3.0)


def _other_line(i: int) -> Line:
    """The i-th line that is not a cell's: leftover colours, then the same dashed."""
    n = len(LINE_COLOURS)
    return Line(LINE_COLOURS[i % n], "solid" if i < n else "dash", 3.0)


# ---------------------------------------------------------------------------------------
# Axes


def nice_step(span: float, max_ticks: int = 7) -> int:
    """A whole-number tick step (1, 2, 5 × 10^k) with at most `max_ticks` ticks over span."""
    if not np.isfinite(span) or span <= 0:
        return 1
    raw = span / max_ticks
    k = 10 ** math.floor(math.log10(max(raw, 1e-12)))
    for m in (1, 2, 5, 10):
        if m * k >= raw:
            return max(1, int(m * k))
    return max(1, int(10 * k))


def _integer_ticks(axis: dict, lo: float, hi: float, max_ticks: int = 7) -> None:
    """Ticks at whole numbers only (time steps, units, training steps): at T = 2 the axis
    shows 0 and 1, never 0.5."""
    axis.update(tickmode="linear", tick0=0, dtick=nice_step(hi - lo, max_ticks), tickformat="d")


def decade_range(values, floor: float | None = None) -> tuple[float, float] | None:
    """(low, high) in log10 of the positive finite values (and the floor, if given), widened
    to whole decades; None if there is none."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if floor is not None and v.size:
        v = np.append(v, floor)
    if v.size == 0:
        return None
    # A line that touches 1.02 should not open a whole empty decade above it.
    lo, hi = math.floor(np.log10(v.min()) + 0.05), math.ceil(np.log10(v.max()) - 0.05)
    return float(lo), float(max(hi, lo + 1))


def decade_dtick(span: float) -> int:
    """A whole number of decades between labels: every decade up to 10, fewer beyond."""
    for step in (1, 2, 5, 10, 20, 50):
        if span / step <= 10:
            return step
    return 100


def _decade_axis(axis: dict, values, floor: float | None = None) -> None:
    """A log axis spanning whole decades, labelled at decades only (1, 10⁻², …)."""
    r = decade_range(values, floor)
    if r is None:
        axis["type"] = "log"
        return
    lo, hi = r
    pad = 0.04 * (hi - lo)  # a line at the top decade stays off the frame
    axis.update(type="log", range=[lo - pad, hi + pad], tick0=0, dtick=decade_dtick(hi - lo),
                tickmode="linear")


def power_text(exponent: int) -> str:
    """10^exponent as tick text: 1, 10, 10⁻³…"""
    if exponent == 0:
        return "1"
    if exponent == 1:
        return "10"
    return f"10<sup>{'−' if exponent < 0 else ''}{abs(exponent)}</sup>"


COLORBAR_TICKS = 6  # powers of ten fit side by side on a 300-pixel bar
MIN_COLORBAR_TICKS = 3  # a bar with one labelled tick cannot be read as a scale


def _decade_colorbar(lo: float, hi: float) -> dict:
    """Colour-bar ticks for log10 values: powers of ten at whole decades, and where fewer
    than MIN_COLORBAR_TICKS decades fit, 1-3 steps (then 1-2-5, then 1…9) within the range."""
    a, b = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    step = next((k for k in (1, 2, 5, 10, 20, 50) if (b - a) / k < COLORBAR_TICKS), 100)
    vals = [float(e) for e in range(a, b + 1) if e % step == 0]
    for mantissas in ((1, 3), (1, 2, 5), range(1, 10)):
        if len(vals) >= MIN_COLORBAR_TICKS:
            break
        vals = [e + math.log10(m) for e in range(a - 1, b + 1) for m in mantissas
                if lo - 1e-9 <= e + math.log10(m) <= hi + 1e-9]
    if len(vals) < MIN_COLORBAR_TICKS:  # narrower than a factor of 2: its ends and middle
        vals = [lo, (lo + hi) / 2, hi]
    return dict(tickmode="array", tickvals=vals, ticktext=[log_tick_text(v) for v in vals])


def log_tick_text(log10_value: float) -> str:
    """A colour-bar label for 10^log10_value: 10⁻³ at decades; 0.2, 5, 50, 2·10⁻⁴ between."""
    e = math.floor(log10_value + 1e-9)
    mantissa = 10 ** (log10_value - e)
    if abs(mantissa - round(mantissa)) < 1e-6 and round(mantissa) == 1:
        return power_text(e)
    if -1 <= e <= 2:
        x = 10 ** log10_value
        return f"{x:.2g}" if x < 100 else f"{x:.0f}"
    return f"{mantissa:.2g}·{power_text(e)}"


# ---------------------------------------------------------------------------------------
# Words instead of empty axes, and labels on the lines


def _say_missing(layout: dict, text: str, xref: str = "x", yref: str = "y",
                 hide_axes: bool = False) -> None:
    """Write `text` in the middle of a plot area where a trace could not be drawn."""
    domain = layout.get(_axis_name(xref, "x"), {}).get("domain") or (0, 1)
    text = wrap(text, int((domain[1] - domain[0]) * PLOT_PX / (0.55 * FONT_SIZE)))
    _annotate(layout, x=0.5, y=0.5, xref=f"{xref} domain", yref=f"{yref} domain", text=text,
              showarrow=False, xanchor="center", yanchor="middle",
              font=dict(size=FONT_SIZE + 1, color=INK), bgcolor="rgba(255,255,255,0.85)",
              borderpad=6, name="missing")
    if hide_axes:
        _hide_axis(layout, xref)
        _hide_axis(layout, yref)


def wrap(text: str, width: int) -> str:
    """Break text into lines of at most `width` characters (<br>), keeping given breaks."""
    width = max(width, 16)
    lines = []
    for paragraph in text.split("<br>"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "<br>".join(lines)


def _hide_axis(layout: dict, ref: str) -> None:
    _axis(layout, ref).update(visible=False, showgrid=False)


def missing_messages(fig) -> list[str]:
    """The texts of the 'could not be drawn' messages of a figure (for tests)."""
    return [a.text for a in fig.layout.annotations if a.name == "missing"]


def _display_range(layout: dict, axis_name: str, values: np.ndarray, log: bool
                   ) -> tuple[float, float]:
    r = layout.get(axis_name, {}).get("range")
    if r is not None:
        return float(r[0]), float(r[1])
    v = np.log10(values) if log else values
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


LABEL_PX = FONT_SIZE * 1.3  # the height of one line of label text
PLOT_PX = 600  # a plot's width on a 1024–1280 screen, to estimate how far a label reaches
MAX_ROOM = 0.3  # how much an axis may grow (of its span) to give labels room


def _label_lines(data: list, layout: dict, side: str = "right", height: int | None = None
                 ) -> None:
    """Write the name of each line (traces with meta["label"]) where it ends, in its
    colour: at the last drawn point (side="right") or the first (side="left", where a
    gradient profile arrives going back in time); a trace's meta["side"] overrides `side`
    for its own line (a backward direction's profile arrives at its right end).

    Over the stretch of line that its text spans, a label sits above the line where the
    line runs down from its end and below where it runs up, clear of the whole stretch
    (noisy loss curves included), so a line never crosses its own label. The y axis
    grows where a label needs room at the top or bottom; labels that would overlap each
    other are moved apart vertically, each away from its own line.
    """
    height = height or layout.get("height") or 460
    m = layout.get("margin", {})
    labels = []
    for trace in data:
        meta = trace.get("meta") if isinstance(trace.get("meta"), dict) else {}
        if "label" not in meta or trace.get("y") is None:
            continue
        x = np.asarray(trace["x"], np.float64)
        y = np.asarray(trace["y"], np.float64)
        xref, yref = trace.get("xaxis") or "x", trace.get("yaxis") or "y"
        xname, yname = _axis_name(xref, "x"), _axis_name(yref, "y")
        log = layout.get(yname, {}).get("type") == "log"
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = np.isfinite(x) & np.isfinite(y) & ((y > 0) if log else True)
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        end_side = meta.get("side") or side  # a line may name the end it is read from
        i = idx[0] if end_side == "left" else idx[-1]
        yd = np.log10(y[ok]) if log else y[ok]
        xs = x[ok]
        xlo, xhi = _display_range(layout, xname, xs, False)
        text = meta["label"]
        reach = float(np.clip(len(text) * FONT_SIZE * 0.55 / PLOT_PX, 0.05, 0.45)) * (xhi - xlo)
        near = (xs - x[i] <= reach) if end_side == "left" else (x[i] - xs <= reach)
        end = yd[0] if end_side == "left" else yd[-1]
        band_lo, band_hi = float(yd[near].min()), float(yd[near].max())
        labels.append(dict(
            x=float(x[i]), xref=xref, yref=yref, yname=yname,
            fx=(x[i] - xlo) / max(xhi - xlo, 1e-12), text=text, chars=len(text),
            above=band_hi - end <= end - band_lo + 1e-9, band=(band_lo, band_hi), end=end,
            colour=meta.get("label_colour") or trace["line"]["color"], log=log, data=yd,
            side=end_side))
    for yname in {lab["yname"] for lab in labels}:
        group = [lab for lab in labels if lab["yname"] == yname]
        domain = layout.get(yname, {}).get("domain") or (0, 1)
        plot_px = max((height - (m.get("t") or 0) - (m.get("b") or 0))
                      * (domain[1] - domain[0]), 50)
        lo, hi = _display_range(layout, yname, np.concatenate([lab["data"] for lab in group]),
                                False)
        need = (LABEL_PX + 8) / plot_px  # of the span, above or below a band
        span = hi - lo
        # Two labels between their lines (the lower line's above it, the upper's below
        # it) where the gap cannot hold both would be pushed past each other, each onto
        # the other's line (the Training lab's GRU label sat on the LSTM's curve and the
        # LSTM's on the GRU's): they go to the far sides of their lines instead.
        ordered = sorted(group, key=lambda lab: lab["end"])
        for low, high in zip(ordered, ordered[1:]):
            if (low["above"] and not high["above"]
                    and _clash(dict(low, box=(0, 1)), dict(high, box=(0, 1)))
                    and high["band"][0] - low["band"][1] < 2 * need * span):
                low["above"], high["above"] = False, True
        top = max([(lab["band"][1] - lo) / span + need - 1 for lab in group if lab["above"]]
                  + [0.0])
        bottom = max([need - (lab["band"][0] - lo) / span for lab in group
                      if not lab["above"]] + [0.0])
        if top > MAX_ROOM:  # no room to grow: those labels go under their lines
            for lab in group:
                if lab["above"] and (lab["band"][1] - lo) / span + need - 1 > 0:
                    lab["above"] = False
            top = 0.0
        if bottom > MAX_ROOM:
            for lab in group:
                if not lab["above"] and need - (lab["band"][0] - lo) / span > 0:
                    lab["above"] = True
            bottom = 0.0
        if top or bottom:
            lo, hi = lo - bottom * span, hi + top * span
            layout.setdefault(yname, {})["range"] = [lo, hi]
        for lab in group:
            to_px = lambda v: (v - lo) / (hi - lo) * plot_px  # noqa: E731
            if lab["above"]:
                b0 = to_px(lab["band"][1]) + 3
                lab["box"] = [b0, b0 + LABEL_PX]
            else:
                b1 = to_px(lab["band"][0]) - 3
                lab["box"] = [b1 - LABEL_PX, b1]
            lab["start"] = lab["box"][0]
    # Move apart labels that would overlap (same plot, close in x): a label above its
    # line moves up, one below moves down, so none moves onto its own line.
    placed = []
    ups = sorted((d for d in labels if d["above"]), key=lambda d: d["box"][0])
    downs = sorted((d for d in labels if not d["above"]), key=lambda d: -d["box"][1])
    for lab in ups + downs:
        for _ in range(len(placed) + 1):
            clash = [o for o in placed if _clash(lab, o)]
            if not clash:
                break
            if lab["above"]:
                shift = max(o["box"][1] for o in clash) + 1 - lab["box"][0]
            else:
                shift = min(o["box"][0] for o in clash) - 1 - lab["box"][1]
            lab["box"] = [lab["box"][0] + shift, lab["box"][1] + shift]
        placed.append(lab)
    for lab in placed:
        # The text runs into the plot from the end; a line that ends near the far side
        # (one drawn point at the right, say) gets its text on the near side instead.
        rightward = lab["fx"] < 0.7 if lab["side"] == "left" else lab["fx"] < 0.3
        _annotate(
            layout, x=lab["x"], y=lab["band"][1] if lab["above"] else lab["band"][0],
            xref=lab["xref"], yref=lab["yref"], text=lab["text"],
            showarrow=False, xanchor="left" if rightward else "right",
            yanchor="bottom" if lab["above"] else "top", xshift=4 if rightward else -4,
            yshift=float((3 if lab["above"] else -3) + lab["box"][0] - lab["start"]),
            font=dict(size=FONT_SIZE, color=lab["colour"]), name="line label",
            bgcolor="rgba(255,255,255,0.7)",
        )


def _clash(a: dict, b: dict) -> bool:
    """Whether two label boxes overlap: same plot, near in x, overlapping in y."""
    near = abs(a["fx"] - b["fx"]) < 0.012 * max(a["chars"], b["chars"])
    same = (a["xref"], a["yref"]) == (b["xref"], b["yref"])
    return same and near and a["box"][0] < b["box"][1] + 1 and b["box"][0] < a["box"][1] + 1


def line_labels(fig) -> dict[str, dict]:
    """Direct labels of a figure: text -> the annotation as a dict (for tests)."""
    return {a.text: a.to_plotly_json() for a in fig.layout.annotations if a.name == "line label"}


def _reference_line(layout: dict, y: float, text: str, log: bool, at: str = "right",
                    below: bool = False, dash: str = "dash", width: float = 2.5,
                    xref: str = "x", yref: str = "y") -> None:
    """A horizontal reference line across the plot with its name written on it.

    (Plotly's add_hline puts its annotation at the *linear* value on a log axis: "1" sat
    a decade away from its line.)
    """
    yd = float(np.log10(y)) if log else float(y)
    layout.setdefault("shapes", []).append(dict(
        type="line", x0=0, x1=1, xref=f"{xref} domain", y0=y, y1=y, yref=yref,
        line=dict(color=REFERENCE_INK, dash=dash, width=width), layer="below"))
    _annotate(
        layout, x=0.99 if at == "right" else 0.01, xref=f"{xref} domain", y=yd, yref=yref,
        text=text, showarrow=False, xanchor="right" if at == "right" else "left",
        yanchor="top" if below else "bottom", yshift=-3 if below else 3,
        font=dict(size=FONT_SIZE, color=REFERENCE_INK), bgcolor="rgba(255,255,255,0.85)",
        name="reference label",
    )


def _vline(x: float, line: dict, xref: str = "x", yref: str = "y") -> dict:
    """A vertical line at x across the whole height of a plot (a shape, as add_vline's)."""
    return dict(type="line", x0=x, x1=x, y0=0, y1=1, xref=xref, yref=f"{yref} domain",
                line=dict(line))


LINE_MARKERS = 12  # markers drawn along a line that has some: enough to tell, not clutter


def _line(x, y, name: str, style: Line, hover: str, label: bool = True, **kwargs) -> dict:
    """A scatter trace drawing a line in `style`; with `label`, its name is written where
    it ends (`_label_lines` reads meta)."""
    trace = dict(type="scatter", x=x, y=y, name=name,
                 mode="lines" if style.marker is None else "lines+markers",
                 line=dict(color=style.colour, width=style.width, dash=style.dash),
                 hovertemplate=hover, **kwargs)
    if style.marker is not None:
        trace["marker"] = dict(symbol=style.marker, size=11, color=style.colour,
                               maxdisplayed=LINE_MARKERS)
    if label:
        trace["meta"] = {"label": name, "label_colour": style.label_colour,
                         "side": style.label_side}
    return trace


# ---------------------------------------------------------------------------------------
# Data helpers


def blank(height: int = 10) -> go.Figure:
    """A figure with nothing in it and no frame (to make the browser load Plotly early)."""
    # No template given: go.Figure puts Plotly's default one in, as it always did here.
    return _figure([], dict(xaxis=dict(visible=False), yaxis=dict(visible=False), height=height,
                            margin=dict(l=0, r=0, t=0, b=0), paper_bgcolor="rgba(0,0,0,0)",
                            plot_bgcolor="rgba(0,0,0,0)"))


def log10_clipped(values: np.ndarray, floor: float) -> np.ndarray:
    """log10 of magnitudes as float32, with values below `floor` (and 0) set to log10(floor).

    inf/NaN become NaN, which Plotly leaves blank; callers say in words where they are.
    """
    v = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.maximum(v, floor))
    out[~np.isfinite(v)] = np.nan
    return out.astype(np.float32)


def log10_shown(values: np.ndarray, floor: float, time_axis: int = 0) -> np.ndarray:
    """A map's log10 magnitudes, float32, as `_heatmaps` draws them: -inf where a value is
    exactly 0 with no dependence (`bptt.no_dependence` along `time_axis`), drawn in a grey
    of its own; log10(floor) where it is below `floor` (tiny, or flushed to 0 after fading
    through it); NaN (blank) where it is inf/NaN."""
    out = log10_clipped(values, floor)
    out[no_dependence(values, floor, axis=time_axis)] = -np.inf
    return out


def log10_map_shown(log10_map: np.ndarray, floor: float, time_axis: int = 1) -> np.ndarray:
    """`log10_shown` of a map already in log10 (connectivity: -inf is an exact 0)."""
    v = np.asarray(log10_map, np.float64)
    with np.errstate(invalid="ignore"):
        out = np.where(v < np.log10(floor), np.log10(floor), v)
    out[no_dependence(v, floor, axis=time_axis, log10=True)] = -np.inf
    return out.astype(np.float32)


def no_dependence_share(z: np.ndarray) -> float:
    """The fraction of a drawn map's cells that are "no dependence" (-inf), for tests."""
    z = np.asarray(z, np.float64)
    return float(np.isneginf(z).mean()) if z.size else 0.0


def downsample_time(a: np.ndarray, max_steps: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool a (T, ...) array over time to at most `max_steps` rows; returns (t, rows).

    The screen has fewer pixels than a 1000-step sequence has steps; the max keeps the
    largest value of each window visible (NaN, i.e. overflow, wins too).
    """
    T = a.shape[0]
    if T <= max_steps:
        return np.arange(T), a
    k = int(np.ceil(T / max_steps))
    pad = (-T) % k
    padded = np.concatenate([a, np.full((pad,) + a.shape[1:], -np.inf, a.dtype)])
    windows = padded.reshape((-1, k) + a.shape[1:])
    pooled = np.where(np.isnan(windows).any(axis=1), np.nan, np.max(windows, axis=1))
    return np.arange(0, T, k), pooled


def log10_range(*log10_arrays) -> tuple[float, float]:
    """(low, high) of the finite values of log10 arrays, at least one decade apart."""
    finite = np.concatenate([np.asarray(a, np.float64)[np.isfinite(a)].ravel() for a in log10_arrays])
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return lo, max(hi, lo + 1.0)


# ---------------------------------------------------------------------------------------
# Subplots


@functools.lru_cache(maxsize=None)
def _subplots_layout(rows: int, cols: int, titled: bool, **options) -> dict:
    """make_subplots's layout of a grid (axes, domains, title places), made once per grid;
    with `titled`, each cell's title annotation has the cell's index as its text."""
    titles = [str(k) for k in range(rows * cols)] if titled else None
    layout = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                           **options).to_dict()["layout"]
    del layout["template"]  # Plotly's default: every figure gets ours
    return layout


def _subplots(rows: int, cols: int, titles: list | None = None, **options) -> dict:
    """The layout dict of `make_subplots(rows, cols, subplot_titles=titles, **options)`, a
    copy of the grid's (make_subplots itself took 10-20 ms a figure). The axes of the cells
    are numbered row by row from the top left: x, x2, x3… (`_cell_refs`)."""
    layout = copy.deepcopy(_subplots_layout(rows, cols, bool(titles), **options))
    if titles:  # as make_subplots: a title for each cell with a non-empty one
        layout["annotations"] = [dict(a, text=titles[int(a["text"])])
                                 for a in layout["annotations"]
                                 if int(a["text"]) < len(titles) and titles[int(a["text"])]]
    return layout


def _cell_refs(k: int) -> tuple[str, str]:
    """The x and y axis references of the k-th cell (from 0) of a `_subplots` grid."""
    n = "" if k == 0 else str(k + 1)
    return "x" + n, "y" + n


# ---------------------------------------------------------------------------------------
# Heatmaps: one implementation for single maps, rows and grids


class Panel(NamedTuple):
    """One heatmap of a figure: z[row, column] over y (rows) × x (columns)."""

    title: str
    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    colour_axis: str = "coloraxis"  # which shared colour scale it uses
    missing: str = "nothing to draw: every value is inf or NaN"


class ColourAxis(NamedTuple):
    title: str
    zmin: float
    zmax: float
    scale: str = MAGNITUDE_SCALE
    log10: bool = False  # z holds log10 values: label the bar with powers of ten


def _heatmaps(panels: list[Panel], axes: dict[str, ColourAxis], title: str, x_title: str,
              y_title: str, hover: str, height: int, columns: int | None = None,
              x_integer: bool = True, y_integer: bool = True, y_reversed: bool = False,
              ) -> tuple[list, dict]:
    """Heatmaps in a grid of one figure, as (traces, layout); each colour axis has one bar,
    under the grid, so every map gets the same width."""
    n = len(panels)
    columns = columns or n
    rows = math.ceil(n / columns)
    layout = _subplots(rows, columns, None if n == 1 else [p.title for p in panels],
                       shared_yaxes=True, horizontal_spacing=0.04 if columns > 1 else 0.0,
                       vertical_spacing=0.12)
    data, any_zero = [], False
    for k, p in enumerate(panels):
        xref, yref = _cell_refs(k)
        xaxis, yaxis = _axis(layout, xref), _axis(layout, yref)
        z = np.asarray(p.z, np.float64)
        zero = np.isneginf(z)  # exactly 0, no dependence: not on the colour scale
        data.append(dict(
            type="heatmap", z=np.where(zero, np.nan, z).astype(np.float32) if zero.any() else p.z,
            x=p.x, y=p.y, coloraxis=p.colour_axis, hovertemplate=hover, name=p.title,
            xaxis=xref, yaxis=yref))
        if zero.any():
            any_zero = True
            data.append(dict(_no_dependence_trace(p, zero, hover), xaxis=xref, yaxis=yref))
        if not np.isfinite(z).any() and not zero.any():
            _say_missing(layout, p.missing, xref, yref, hide_axes=True)
        else:
            if x_integer and len(p.x):
                _integer_ticks(xaxis, float(np.min(p.x)), float(np.max(p.x)), 6)
            if y_integer and len(p.y):  # the rows share a y axis: ticks of all panels
                ys = np.concatenate([np.asarray(q.y, np.float64) for q in panels if len(q.y)])
                _integer_ticks(yaxis, float(ys.min()), float(ys.max()), 6)
        if k + columns >= n:  # one x title per column, under the last row
            _title(xaxis, x_title)
        xaxis["showgrid"] = False
        yaxis.update(showgrid=False, autorange="reversed" if y_reversed else True)
        if k % columns == 0:
            _title(yaxis, y_title)
    bars = len(axes)
    for k, (name, a) in enumerate(axes.items()):
        bar = dict(title=dict(text=a.title), x=k / bars, len=0.6 if bars == 1 else 0.45)
        if a.log10:
            bar.update(_decade_colorbar(a.zmin, a.zmax))
        layout[name] = dict(colorscale=_colorscale(a.scale), cmin=a.zmin, cmax=a.zmax,
                            colorbar=_merge(_COLORBAR, bar))
    if any_zero:
        layout[NO_DEPENDENCE_AXIS] = dict(
            colorscale=[[0, NO_DEPENDENCE_COLOUR], [1, NO_DEPENDENCE_COLOUR]], cmin=0, cmax=1,
            showscale=False)
    if not any_zero and all(not np.isfinite(np.asarray(p.z, np.float64)).any() for p in panels):
        height, axes = 220, {}  # only words to show: no empty frame, no colour bar
        for name in ["coloraxis", *[k for k in layout if k.startswith("coloraxis")]]:
            layout.setdefault(name, {})["showscale"] = False
    _layout(layout, title, height=height, margin=dict(b=70 + (COLORBAR_SPACE if axes else 0)))
    # Under the x axis titles. (Anchored to the figure's bottom, yref="container", Plotly
    # draws a horizontal bar's title over the bar.)
    plot_px = height - layout["margin"]["t"] - layout["margin"]["b"]
    for name in axes:
        layout[name]["colorbar"]["y"] = -COLORBAR_OFFSET / plot_px
    if any_zero:  # the grey's key, beside the colour bar(s), at the height of their titles
        _annotate(
            layout, x=0.64 if bars == 1 else 1.0, xanchor="left" if bars == 1 else "right",
            y=-COLORBAR_OFFSET / plot_px, yanchor="top", xref="paper", yref="paper",
            text=f"<span style='color:{NO_DEPENDENCE_COLOUR}'>■■</span> {NO_DEPENDENCE_TEXT}",
            showarrow=False, font=dict(size=FONT_SIZE, color=INK), name="no dependence")
    return data, layout


NO_DEPENDENCE_AXIS = "coloraxis9"  # a one-colour axis of its own, with no bar


def _no_dependence_trace(p: Panel, zero: np.ndarray, hover: str) -> dict:
    """The cells of a panel that are exactly 0 with no dependence, in their own grey."""
    where = hover.split("<br>")[:-1]  # the main hover's position lines, not its value
    return dict(
        type="heatmap", z=np.where(zero, 1.0, np.nan).astype(np.float32), x=p.x, y=p.y,
        coloraxis=NO_DEPENDENCE_AXIS, name=NO_DEPENDENCE_TEXT,
        hovertemplate="<br>".join(where + [f"{NO_DEPENDENCE_TEXT}<extra></extra>"]))


def time_unit_heatmap(
    values: np.ndarray, title: str, quantity: str, zmin: float, zmax: float,
    colorscale=MAGNITUDE_SCALE, log10: bool = False,
) -> go.Figure:
    """Any (T, H) array as a heatmap over time step × hidden unit (time downsampled).

    Args:
      quantity: what a cell's colour is, for the colour bar and the hover text.
      log10: the values are log10 of a magnitude (the bar is labelled 10⁻³…).
    """
    t, z = downsample_time(np.asarray(values, np.float32))
    panel = Panel(title, z.T, t, np.arange(values.shape[1]),
                  missing=f"{quantity} is inf or NaN at every step: nothing to draw")
    shown = f"log10 {quantity}" if log10 else quantity
    return _figure(*_heatmaps(
        [panel], {"coloraxis": ColourAxis(quantity, zmin, zmax, colorscale, log10)}, title,
        "time step t", "hidden unit",
        f"time step t=%{{x}}<br>hidden unit %{{y}}<br>{shown} = %{{z:.3g}}<extra></extra>",
        height=430,
    ))


def _gradient_panel(title: str, grad_map: np.ndarray, floor: float, quantity: str) -> Panel:
    t, z = downsample_time(log10_shown(grad_map, floor, time_axis=0))
    return Panel(title, z.T, t, np.arange(grad_map.shape[1]),
                 missing=f"|{quantity}| is inf or NaN at every step (it overflowed "
                         "float32): nothing to draw")


def gradient_heatmap(
    grad_map: np.ndarray, floor: float, title: str, quantity="∂L/∂h_t", zrange=None,
) -> go.Figure:
    """Heatmap of |∂L/∂h_t| over time step × hidden unit, log colour scale.

    Args:
      grad_map: (T, H) magnitudes; values below `floor` are clipped to it.
      zrange: (low, high) of the colour scale in log10; by default the range of the data.
    """
    return gradient_heatmap_row({title: grad_map}, floor, title, quantity, zrange)


def gradient_heatmap_row(maps: dict, floor: float, title: str, quantity="∂L/∂h_t",
                         zrange=None) -> go.Figure:
    """Heatmaps of |∂L/∂h_t| side by side, one colour scale and one bar for all.

    Args:
      maps: panel title -> (T, H) magnitudes.
    """
    panels = [_gradient_panel(name, m, floor, quantity) for name, m in maps.items()]
    lo, hi = zrange if zrange is not None else log10_range(*(p.z for p in panels))
    hover = (f"time step t=%{{x}}<br>hidden unit %{{y}}<br>log10 |{quantity}| = "
             "%{z:.2f}<extra></extra>")
    return _figure(*_heatmaps(
        panels, {"coloraxis": ColourAxis(f"|{quantity}|", lo, hi, log10=True)}, title,
        "time step t", "hidden unit", hover, height=430 if len(panels) == 1 else 400))


def gate_maps(gates: dict, titles: dict, tanh_gates=("g", "n"), title: str = "") -> go.Figure:
    """Each gate over time step × hidden unit, in the cell's gate order; the sigmoid gates
    share one colour bar (0 closed … 1 open), the tanh candidates another (−1 … 1).

    Args:
      gates: gate name -> (T, H) activations.
      titles: gate name -> panel title.
    """
    names = _gate_order(gates)
    panels, axes = [], {}
    for name in names:
        t, z = downsample_time(np.asarray(gates[name], np.float32))
        signed = name in tanh_gates
        axis = "coloraxis2" if signed else "coloraxis"
        panels.append(Panel(titles.get(name, name), z.T, t, np.arange(z.shape[1]), axis,
                            f"gate {name} is inf or NaN at every step"))
        if signed:
            axes[axis] = ColourAxis("candidate (tanh)", -1.0, 1.0, SIGNED_SCALE)
        else:
            axes.setdefault(axis, ColourAxis("gate (0 closed, 1 open)", 0.0, 1.0, "Cividis"))
    axes = dict(sorted(axes.items()))
    columns = 2 if len(panels) == 4 else len(panels)
    rows = math.ceil(len(panels) / columns)
    return _figure(*_heatmaps(
        panels, axes, title, "time step t", "hidden unit",
        "time step t=%{x}<br>hidden unit %{y}<br>value %{z:.3f}<extra></extra>",
        height=150 + 300 * rows, columns=columns))


def _gate_order(names) -> list:
    """Gate names in the cells' order (i, f, g, o; r, z, n): JAX returns dicts sorted."""
    return sorted(names, key=lambda g: GATE_ORDER.index(g) if g in GATE_ORDER else len(GATE_ORDER))


def connectivity_heatmap(steps, log10_map: np.ndarray, floor: float, title: str) -> go.Figure:
    """‖∂h_t/∂x_s‖ over output step t (rows) × input step s (columns), log colour.

    The upper triangle (s > t) is blank: an output cannot depend on a later input.
    """
    z = log10_map_shown(log10_map, floor, time_axis=1)
    lo, hi = log10_range(z)
    panel = Panel(title, z, np.asarray(steps), np.asarray(steps),
                  missing="‖∂h_t/∂x_s‖ is inf or NaN everywhere: nothing to draw")
    return _figure(*_heatmaps(
        [panel], {"coloraxis": ColourAxis("‖∂h_t/∂x_s‖", lo, hi, log10=True)}, title,
        "input step s", "output step t",
        "output step t=%{y}<br>input step s=%{x}<br>log10 ‖∂h_t/∂x_s‖ = %{z:.2f}<extra></extra>",
        height=600, y_reversed=True,
    ))


def training_flow_maps(maps: dict, floor: float, title: str, zrange=None) -> go.Figure:
    """‖∂ℓ/∂h_t‖ over training step × time step t for several runs side by side, one
    colour scale and one bar for all.

    Args:
      maps: panel title -> (snapshot steps (N,), profiles (N, T)).
    """
    panels = []
    for name, (steps, profiles) in maps.items():
        z = log10_shown(profiles, floor, time_axis=1)
        panels.append(Panel(name, z, np.arange(z.shape[1]), np.asarray(steps),
                            missing="‖∂ℓ/∂h_t‖ is inf or NaN in every snapshot"))
    lo, hi = zrange if zrange is not None else log10_range(*(p.z for p in panels))
    return _figure(*_heatmaps(
        panels, {"coloraxis": ColourAxis("‖∂ℓ/∂h_t‖", lo, hi, log10=True)}, title,
        "time step t", "training step",
        "training step %{y}<br>time step t=%{x}<br>log10 ‖∂ℓ/∂h_t‖ = %{z:.2f}<extra></extra>",
        height=420,
    ))


# ---------------------------------------------------------------------------------------
# Line charts


def gradient_profile(
    norms: dict[str, np.ndarray],
    floor: float,
    title: str,
    bound: np.ndarray | None = None,
    y_title: str = "‖∂L/∂h_t‖ (log scale)",
    t: np.ndarray | None = None,
    x_title: str = "time step t",
    styles: dict | None = None,
    label_side: str = "left",
) -> go.Figure:
    """Norms against t on a log axis; values below `floor` drawn on the floor as crosses.

    Each line is labelled at its left end by default: a gradient profile is read from the
    loss (right) back in time, and its left end is how much gradient arrives.

    Args:
      norms: name -> (n,) array; one line each.
      bound: optional (n,) upper bound, drawn dashed (Pascanu et al. 2013).
      t: the n x values (default 0 … n−1), e.g. sampled time steps.
      styles: name -> Line (e.g. `cell_line("lstm")`); lines without one get the colours
        that are no cell's.
      label_side: "left" or "right", the end of the lines that carries their names.
    """
    styles = styles or {}
    data, layout = [], {}
    any_below, drawn, missing, everything, no_path = False, 0, [], [], {}
    n = max((np.asarray(v).size for v in norms.values()), default=0)
    for i, (name, values) in enumerate(norms.items()):
        v = np.asarray(values, np.float64)
        x = np.arange(v.size) if t is None else np.asarray(t)
        style = styles.get(name) or _other_line(i)
        shown = np.where(np.isfinite(v) & (v >= floor), v, np.nan)
        data.append(_line(x, shown, name, style,
                          f"t=%{{x}}<br>{name} = %{{y:.3e}}<extra></extra>"))
        lone = _lone_points(shown)
        if lone.any():  # a line of one point between gaps draws nothing: a dot instead
            data.append(dict(
                type="scatter", x=x[lone], y=shown[lone], mode="markers", name=name,
                showlegend=False,
                marker=dict(symbol=style.marker or "circle", size=11, color=style.colour),
                hovertemplate=f"t=%{{x}}<br>{name} = %{{y:.3e}}<extra></extra>"))
        zero = no_dependence(v, floor)
        if zero.any():
            no_path[name] = (x[zero], style)
        below = np.isfinite(v) & (v < floor) & ~zero
        if below.any():
            data.append(dict(
                type="scatter", x=x[below], y=np.full(below.sum(), floor), mode="markers",
                showlegend=False, legendgroup=name, name=f"{name} {FLOOR_TEXT}",
                marker=dict(symbol="x-thin", size=8, color=style.colour,
                            line=dict(width=2, color=style.colour)),
                hovertemplate=f"t=%{{x}}<br>{name} {FLOOR_TEXT}<extra></extra>",
            ))
            any_below = True
        if np.isfinite(shown).any():
            drawn += 1
            everything.append(shown)
        elif below.any():
            missing.append(f"{name} is below 1e-30 at every step (crosses on the floor)")
        elif zero.any():
            missing.append(f"{name} is exactly 0 at every step: no path from it to the loss")
        else:
            missing.append(f"{name} is inf or NaN at every step: the values overflowed "
                           "float32 and cannot be drawn")
    if bound is not None:
        b = np.asarray(bound, np.float64)
        b = np.where(np.isfinite(b) & (b >= floor), b, np.nan)
        if np.isfinite(b).any():
            data.append(_line(np.arange(b.size) if t is None else np.asarray(t), b,
                              "bound (γλ₁)^(T−1−t)", BOUND_LINE,
                              "t=%{x}<br>Pascanu bound = %{y:.3e}<extra></extra>"))
            everything.append(b)
    x_all = np.arange(n) if t is None else np.asarray(t)
    xaxis, yaxis = _axis(layout, "x"), _axis(layout, "y")
    if everything or any_below:
        _decade_axis(yaxis, np.concatenate(everything) if everything else [floor],
                     floor if any_below else None)
        if len(x_all):
            xaxis["range"] = [float(np.min(x_all)), float(np.max(x_all))]
            _integer_ticks(xaxis, float(np.min(x_all)), float(np.max(x_all)))
    _title(yaxis, y_title)
    _title(xaxis, x_title)
    if any_below:
        _reference_line(layout, floor, FLOOR_TEXT, log=True, at="right", dash="dot", width=1.5)
    if no_path:
        _no_path_band(data, layout, no_path)
    _layout(layout, title, height=480)
    if no_path:
        layout["yaxis2"]["visible"] = False
    _label_lines(data, layout, label_side)
    if missing:
        _say_missing(layout, "<br>".join(missing), hide_axes=not (everything or any_below))
    return _figure(data, layout)


NO_PATH_BAND = 0.16  # of the plot's height, under the log axis: where exact zeros are marked


def _lone_points(shown: np.ndarray) -> np.ndarray:
    """Finite entries with no finite neighbour: a line through them draws nothing."""
    ok = np.isfinite(shown)
    left = np.concatenate([[False], ok[:-1]])
    right = np.concatenate([ok[1:], [False]])
    return ok & ~left & ~right


def _no_path_band(data: list, layout: dict, no_path: dict) -> None:
    """Mark the steps where a line is exactly 0 with no path to the loss: a strip of
    marks in its colour per line, in a band under the log axis that has no ticks (a log
    axis has no place for 0, and a mark at any height on it would read as a value).

    Args:
      no_path: line name -> (steps where it is exactly 0, its Line).
    """
    _deep_update(layout, dict(yaxis=dict(domain=[NO_PATH_BAND, 1]),
                              xaxis=dict(anchor="free", position=0),
                              yaxis2=dict(domain=[0, NO_PATH_BAND * 0.9], range=[0, 1],
                                          anchor="x", fixedrange=True, showgrid=False)))
    rows = len(no_path)
    for j, (name, (steps, style)) in enumerate(no_path.items()):
        y = 0.45 - 0.4 * j / max(rows - 1, 1) if rows > 1 else 0.25
        data.append(dict(
            type="scatter", x=steps, y=np.full(steps.size, y), yaxis="y2", mode="markers",
            name=f"{name}: {NO_PATH_TEXT}", showlegend=False,
            marker=dict(symbol="line-ns", size=10, line=dict(width=3, color=style.colour)),
            hovertemplate=f"t=%{{x}}<br>{name}: {NO_PATH_TEXT}<extra></extra>"))
    # The words over the longest stretch of marks, clear of the lines above the band.
    steps = max((s for s, _ in no_path.values()), key=len)
    _annotate(
        layout, x=float(np.median(steps)), xref="x", y=1.0, yref="y2", yanchor="top",
        text=f"{next(iter(no_path))}: {NO_PATH_TEXT}" if rows == 1 else NO_PATH_TEXT,
        showarrow=False, font=dict(size=FONT_SIZE, color=INK),
        bgcolor="rgba(255,255,255,0.85)", name="no path")


def saturation_top(*saturations: dict) -> float:
    """The largest saturated fraction of several saturation dicts (to share one axis)."""
    return max((max(s.left_overall, s.right_overall) for sat in saturations
                for s in sat.values()), default=0.0)


def saturation_bars(saturation: dict, title: str, top: float | None = None) -> go.Figure:
    """Per gate (in the cell's order), the fraction of (time, sequence, unit) entries
    saturated low and high, on an axis scaled to the bars (not to 100%).

    Args:
      saturation: gate name -> jacobians.GateSaturation.
      top: the largest fraction the axis must hold (`saturation_top` of several charts
        that are to be compared); by default the largest bar.
    """
    names = _gate_order(saturation)
    low = np.array([saturation[n].left_overall for n in names], np.float64)
    high = np.array([saturation[n].right_overall for n in names], np.float64)
    low_text = [f"< {saturation[n].thresholds[0]:g}" for n in names]
    high_text = [f"> {saturation[n].thresholds[1]:g}" for n in names]
    top, digits = percent_axis(np.concatenate([low, high, [top or 0.0]]))
    fmt = f".{digits}%"

    def bars(y, name, colour, text):
        return dict(
            type="bar", x=names, y=y, name=name, marker=dict(color=colour), customdata=text,
            texttemplate=f"%{{y:{fmt}}}", textposition="outside", cliponaxis=False,
            textfont=dict(size=FONT_SIZE - 1, color=INK),
            hovertemplate=f"gate %{{x}}<br>fraction %{{customdata}}: %{{y:{fmt}}}<extra></extra>")

    data = [bars(low, "saturated low (closed)", LINE_COLOURS[2], low_text),
            bars(high, "saturated high (open)", LINE_COLOURS[1], high_text)]
    layout = dict(
        barmode="group", bargap=0.25,
        yaxis=dict(title=dict(text="fraction of entries"), range=[0, top],
                   tickformat=f".{max(digits - 1, 0)}%" if top >= 0.05 else fmt),
        xaxis=dict(title=dict(text="gate"), type="category"))
    _layout(layout, title, height=400, legend=True, margin=dict(t=TOP_MARGIN + 30))
    layout["legend"].update(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom")
    return _figure(data, layout)


def percent_axis(fractions) -> tuple[float, int]:
    """(top of the axis, decimals of the percentages) for bars of these fractions: room
    above the tallest bar for its label, and enough decimals that 0.3% is not "0%"."""
    v = np.asarray(fractions, np.float64)
    v = v[np.isfinite(v)]
    peak = float(v.max()) if v.size else 0.0
    if peak <= 0:
        return 0.01, 1
    top = min(peak * 1.3, 1.12) if peak < 0.86 else 1.12
    digits = int(min(3, max(1, math.ceil(-math.log10(top * 100)) + 1)))
    return top, digits


def eigenvalue_plane(eigenvalues: dict, labels: dict, title: str, cell: str | None = None
                     ) -> go.Figure:
    """Eigenvalues of each W_hh block in the complex plane, with the unit circle.

    Args:
      eigenvalues: block name -> (H,) complex array.
      labels: block name -> legend text (e.g. "W_hh", "W_hf").
      cell: the cell, whose colour a single block takes; a gated cell's blocks take the
        colours of its gates.
    """
    x, y = circle(1.0)
    data = [dict(type="scatter", x=x, y=y, mode="lines", name="unit circle |λ| = 1",
                 line=dict(color=REFERENCE_INK, dash="dash", width=2), hoverinfo="skip")]
    symbols = ("circle", "square", "diamond", "triangle-up")
    single = len(eigenvalues) == 1
    for i, block in enumerate(_gate_order(eigenvalues)):
        eig = eigenvalues[block]
        re, im = complex_xy(eig)
        if single and cell in CELL_COLOURS:
            colour = CELL_COLOURS[cell]
        else:
            colour = GATE_COLOURS.get(block, LINE_COLOURS[i % len(LINE_COLOURS)])
        data.append(dict(
            type="scatter", x=re, y=im, mode="markers", name=labels.get(block, block),
            marker=dict(size=10, color=colour, opacity=0.85, symbol=symbols[i % 4]),
            customdata=np.abs(eig).astype(np.float32),
            hovertemplate="Re λ = %{x:.3f}<br>Im λ = %{y:.3f}<br>|λ| = %{customdata:.3f}<extra></extra>",
        ))
    layout = dict(
        annotations=[dict(x=0.7071, y=0.7071, text="|λ| = 1", showarrow=False, xanchor="left",
                          yanchor="bottom", font=dict(color=REFERENCE_INK),
                          name="reference label")],
        xaxis=dict(title=dict(text="real part"), zerolinecolor=GRID),
        yaxis=dict(title=dict(text="imaginary part"), scaleanchor="x", scaleratio=1,
                   zerolinecolor=GRID))
    _layout(layout, title, height=520, legend=True)
    # After the template, which turns zero lines off on every other chart.
    layout["xaxis"]["zeroline"] = layout["yaxis"]["zeroline"] = True
    layout["legend"].update(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top")
    return _figure(data, layout)


def singular_value_band(steps, quantiles: np.ndarray, threshold: float | None, title: str,
                        cell: str | None = None) -> go.Figure:
    """Smallest, median and largest singular value of J_t against t, log axis, in the
    cell's colour; the band between smallest and largest shaded.

    Args:
      quantiles: (3, n) smallest, median, largest.
      threshold: a horizontal line (1/γ) where a product of such steps stops shrinking.
    """
    lo, mid, hi = (np.asarray(q, np.float64) for q in quantiles)
    lo = np.maximum(lo, 1e-12)
    colour = CELL_COLOURS.get(cell, INK)
    steps = np.asarray(steps)
    data = [
        _line(steps, hi, "largest σ(J_t)", Line(colour, "dash", 2.5),
              "t=%{x}<br>largest singular value %{y:.3g}<extra></extra>"),
        _line(steps, lo, "smallest σ(J_t) (≥ 1e-12)", Line(colour, "dot", 2.5),
              "t=%{x}<br>smallest singular value %{y:.3g}<extra></extra>",
              fill="tonexty", fillcolor=_rgba(colour, 0.12)),
        _line(steps, mid, "median σ(J_t)", Line(colour, "solid", 4.0),
              "t=%{x}<br>median singular value %{y:.3g}<extra></extra>"),
    ]
    layout = {}
    xaxis, yaxis = _axis(layout, "x"), _axis(layout, "y")
    values = [hi, lo, mid] + ([np.array([threshold])] if threshold is not None else [])
    drawn = any(np.isfinite(v).any() for v in (hi, lo, mid))
    if drawn:
        _decade_axis(yaxis, np.concatenate(values))
        if steps.size:
            xaxis["range"] = [float(steps.min()), float(steps.max())]
            _integer_ticks(xaxis, float(steps.min()), float(steps.max()))
    if threshold is not None and drawn:
        _reference_line(layout, threshold, f"{threshold:g} (= 1/γ)", log=True, at="left",
                        below=True)
    _title(yaxis, "singular value of J_t")
    _title(xaxis, "time step t")
    _layout(layout, title, height=460)
    _label_lines(data, layout, "right")
    if not drawn:
        _say_missing(layout, "The step Jacobians are inf or NaN at every step: the state "
                             "overflowed float32, nothing to draw", hide_axes=True)
    return _figure(data, layout)


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def loss_curves(runs: dict, baseline: float, baseline_label: str, title: str,
                styles: dict | None = None) -> go.Figure:
    """Training loss against step, one line per run labelled at its end, the no-memory
    baseline dashed and named on the line.

    Args:
      runs: name -> (steps (N,), losses (N,), clipped (N,) bool); steps where clipping
        fired are marked with open circles on the curve.
      styles: name -> Line (e.g. `cell_line("gru")`).
    """
    styles = styles or {}
    data, layout = [], {}
    everything, last_step, missing = [np.array([baseline])], 0, []
    for i, (name, (steps, losses, clipped)) in enumerate(runs.items()):
        style = styles.get(name) or _other_line(i)
        losses = np.asarray(losses, np.float64)
        steps = np.asarray(steps)
        shown = np.where(np.isfinite(losses) & (losses > 0), losses, np.nan)
        data.append(_line(steps, shown, name, style._replace(width=2.5),
                          f"{name}<br>step %{{x}}<br>loss %{{y:.4g}}<extra></extra>",
                          legendgroup=name))
        if np.isfinite(shown).any():
            everything.append(shown)
        else:
            missing.append(f"{name}: the loss is inf or NaN at every step")
        if steps.size:
            last_step = max(last_step, int(steps.max()))
        clipped = np.asarray(clipped, bool)
        if clipped.any():
            data.append(dict(
                type="scatter", x=steps[clipped], y=shown[clipped], mode="markers",
                name=f"{name}: clipping fired", legendgroup=name,
                marker=dict(symbol="circle-open", size=8, color=style.colour,
                            line=dict(width=1.5)),
                hovertemplate=f"{name}<br>step %{{x}}: gradient clipped<extra></extra>",
            ))
    xaxis, yaxis = _axis(layout, "x"), _axis(layout, "y")
    _decade_axis(yaxis, np.concatenate(everything))
    xaxis["range"] = [0, max(last_step, 1)]
    _integer_ticks(xaxis, 0, max(last_step, 1))
    _reference_line(layout, baseline, f"no-memory baseline ({baseline_label})", log=True,
                    at="left", below=True)
    _title(yaxis, "training loss (log scale)")
    _title(xaxis, "training step")
    _layout(layout, title, height=460)
    _label_lines(data, layout, "right")
    if missing:
        _say_missing(layout, "<br>".join(missing))
    return _figure(data, layout)


def profile_overlay(curves: list, floor: float, title: str,
                    y_title: str = "‖∂L/∂h_t‖ (log scale)") -> go.Figure:
    """Several profiles of one knob's values on one log axis, one sequential colour scale
    (the knob's order), each line labelled with its value where it ends (at t = 0).

    Args:
      curves: [(label, (T_i,) norms)] in the knob's order; lengths may differ (a T knob).
    """
    from plotly.colors import sample_colorscale

    n = len(curves)
    # Viridis from dark to mid green: its last yellows are too light on white.
    colours = sample_colorscale("Viridis", [0.7 * i / max(n - 1, 1) for i in range(n)])
    colours = [_hex(c) for c in colours]
    return gradient_profile(
        {label: values for label, values in curves}, floor, title, y_title=y_title,
        styles={label: Line(c, "solid", 3.0) for (label, _), c in zip(curves, colours)},
    )


def _hex(colour: str) -> str:
    """'rgb(68, 1, 84)' -> '#440154' (the shading helpers take hex)."""
    if colour.startswith("#"):
        return colour
    parts = colour[colour.index("(") + 1: colour.index(")")].split(",")
    return "#" + "".join(f"{int(round(float(p))):02X}" for p in parts[:3])


def forward_panel(state_norms: np.ndarray, per_step: dict, per_step_title: str,
                  marks: dict, title: str, cell: str | None = None) -> go.Figure:
    """The forward pass under a gradient profile: ‖h_t‖ (log) above, and below per-step
    fractions (mean act′, or each gate's saturated fraction), with marked steps.

    Args:
      state_norms: (T,) ‖h_t‖; inf/NaN past an overflow (not drawn).
      per_step: name -> (T,) values in [0, 1].
      marks: label -> step, drawn as vertical lines on both panels (e.g. where the state
        left float32's range).
      cell: the cell, whose colour ‖h_t‖ takes.
    """
    layout = _subplots(2, 1, shared_xaxes=True, vertical_spacing=0.1)  # x, y above; x2, y2
    v = np.asarray(state_norms, np.float64)
    t = np.arange(v.size)
    shown = np.where(np.isfinite(v) & (v > 0), v, np.nan)
    colour = CELL_COLOURS.get(cell, INK)
    data = [_line(t, shown, "‖h_t‖", Line(colour, "solid", 3.0),
                  "t=%{x}<br>‖h_t‖ = %{y:.3e}<extra></extra>", xaxis="x", yaxis="y")]
    drawn_low = False
    for i, name in enumerate(_gate_order(per_step)):
        values = np.asarray(per_step[name], np.float64)
        style = Line(GATE_COLOURS.get(name, colour if len(per_step) == 1 else
                                      LINE_COLOURS[i % len(LINE_COLOURS)]), "solid", 2.5)
        data.append(_line(t, values, name, style,
                          f"t=%{{x}}<br>{name} = %{{y:.3f}}<extra></extra>",
                          xaxis="x2", yaxis="y2"))
        drawn_low = drawn_low or bool(np.isfinite(values).any())
    if np.isfinite(shown).any():
        _decade_axis(layout["yaxis"], shown)
    elif np.isfinite(v).all():  # zero inputs from a zero state: exactly 0, not lost
        _say_missing(layout, "‖h_t‖ = 0 at every step (the state stays at 0): a log axis has "
                             "no place for 0", "x", "y", hide_axes=True)
    else:
        _say_missing(layout, "‖h_t‖ is inf or NaN at every step: nothing to draw", "x", "y",
                     hide_axes=True)
    if not drawn_low:
        _say_missing(layout, f"{per_step_title}: no finite value to draw", "x2", "y2")
    shapes = []
    for label, step in marks.items():
        line = dict(color=REFERENCE_INK, dash="dash", width=2)
        shapes.append(_vline(step, line, "x", "y"))
        if per_step:  # (as add_vline: not across a panel with nothing in it)
            shapes.append(_vline(step, line, "x2", "y2"))
        # At the foot of the upper panel, beside the line on the side with room: the
        # curve there is far from its end, which is where the state overflows.
        left_half = step < 0.45 * max(t.size - 1, 1)
        _annotate(layout, x=step, y=0.03, xref="x", yref="y domain", text=label,
                  showarrow=False, xanchor="left" if left_half else "right",
                  yanchor="bottom", xshift=5 if left_half else -5,
                  font=dict(color=REFERENCE_INK), bgcolor="rgba(255,255,255,0.8)",
                  name="reference label")
    if shapes:
        layout["shapes"] = shapes
    _title(layout["yaxis"], "‖h_t‖")
    _title(layout["yaxis2"], per_step_title)["range"] = [0, 1.05]
    _title(layout["xaxis2"], "time step t")
    if t.size:
        for xaxis in (layout["xaxis"], layout["xaxis2"]):
            xaxis["range"] = [0, max(int(t[-1]), 1)]
            _integer_ticks(xaxis, 0, max(int(t[-1]), 1))
    _layout(layout, title, height=560)
    _label_lines(data, layout, "right")
    return _figure(data, layout)


def depth_time_map(labels: list, depth_map: np.ndarray, floor: float, read_steps: list,
                   title: str) -> go.Figure:
    """‖∂L/∂h_t‖ of every layer and direction (rows, top layer on top) × time step, log
    colour; the steps where the loss reads are marked with dashed lines.

    Args:
      labels: row names, layer 1 first (as `depth_map`'s rows).
      depth_map: (rows, T) norms.
    """
    t, z = downsample_time(log10_shown(np.asarray(depth_map).T, floor, time_axis=0))
    lo, hi = log10_range(z)
    # Rows as categories, listed from the top layer down: a network is drawn input at the
    # bottom, so layer 1 sits lowest.
    panel = Panel(title, z.T, t, list(labels),
                  missing="‖∂L/∂h_t‖ is inf or NaN everywhere (the forward pass overflowed)")
    data, layout = _heatmaps(
        [panel], {"coloraxis": ColourAxis("‖∂L/∂h_t‖", lo, hi, log10=True)}, title,
        "time step t", "",
        "%{y}<br>time step t=%{x}<br>log10 ‖∂L/∂h_t‖ = %{z:.2f}<extra></extra>",
        height=280 + 45 * len(labels), y_integer=False)
    layout["yaxis"].update(type="category", categoryorder="array", categoryarray=list(labels))
    if read_steps:
        layout["shapes"] = [_vline(step, dict(color="#FFFFFF", dash="dash", width=2))
                            for step in read_steps]
    return _figure(data, layout)


def connectivity_pair(steps, maps: dict, floor: float, title: str) -> go.Figure:
    """Connectivity maps ‖∂y_t/∂x_s‖ side by side with one colour bar.

    Args:
      maps: panel title -> (n, n) log10 map (NaN where not defined, e.g. s > t one-way).
    """
    zs = {}
    for name, m in maps.items():
        zs[name] = log10_map_shown(m, floor, time_axis=1)
    lo, hi = log10_range(*zs.values())
    panels = [Panel(name, z, np.asarray(steps), np.asarray(steps),
                    missing="‖∂y_t/∂x_s‖ is inf or NaN everywhere: nothing to draw")
              for name, z in zs.items()]
    return _figure(*_heatmaps(
        panels, {"coloraxis": ColourAxis("‖∂y_t/∂x_s‖", lo, hi, log10=True)}, title,
        "input step s", "output step t",
        "output step t=%{y}<br>input step s=%{x}<br>log10 ‖∂y_t/∂x_s‖ = %{z:.2f}<extra></extra>",
        height=520, y_reversed=True,
    ))


LAYER_DASHES = ("solid", "dash", "dot", "dashdot")  # layer 1, 2, 3, 4
DIRECTION_MARKERS = {"→": "triangle-right", "←": "triangle-left"}


def layer_lines(cell: str, labels: list) -> dict:
    """Line styles for a network's layers ("layer 2 ←"): the cell's hue, one dash and one
    shade per layer (darker going up); a marker per direction, pointing the way it reads.

    Each line is named at the end where its gradient arrives going back along its own
    direction: a forward line at its left end, a backward one at its right end, so the
    names do not stack at one edge.
    """
    layers = sorted({label.split(" ")[1] for label in labels}, key=int)
    styles = {}
    for label in labels:
        k = layers.index(label.split(" ")[1])
        amount = 0.35 - 0.7 * k / max(len(layers) - 1, 1) if len(layers) > 1 else 0.0
        arrow = label.split(" ")[-1] if label.split(" ")[-1] in DIRECTION_MARKERS else None
        colour = CELL_COLOURS[cell]
        styles[label] = Line(shade(colour, amount), LAYER_DASHES[k % len(LAYER_DASHES)], 3.0,
                             # a light shade's name in a darker one, to read on white
                             label_colour=shade(colour, min(amount, 0.1)),
                             marker=DIRECTION_MARKERS.get(arrow),
                             label_side="right" if arrow == "←" else "left")
    return styles


# ---------------------------------------------------------------------------------------
# Words


def _plain_text(text: str) -> str:
    """Text from a user (a typed word, a vocabulary's token) as Plotly shows it literally:
    Plotly reads a subset of HTML in every label, so <, > and & are escaped."""
    return html.escape(str(text), quote=False)


def visible_character(ch: str) -> str:
    """A character as a cell of the coloured-words figure can show it: a space as ␣, a new
    line as ⏎."""
    return {" ": "␣", "\n": "⏎"}.get(ch, ch)


class WordRow(NamedTuple):
    """One model's reading of a sentence: a gradient norm per word and where to mark."""

    words: tuple  # the words read, in order
    values: np.ndarray  # (T,) ‖∂ℓ/∂e_s‖ per word
    subject: int | None = None  # the index of the subject, marked on the figure


def word_gradients(rows: dict, floor: float, title: str, verb: str | None = None,
                   unit: str = "word") -> go.Figure:
    """The sentence as coloured words: one row per model, a cell per word, coloured by
    log10 ‖∂ℓ/∂e_s‖ on one colour scale for every row (its bar under the rows), the word
    written on its cell; the subject outlined and named, the verb to predict after the
    last word. Exact zeros are grey (no dependence), values under `floor` clipped.

    Args:
      rows: row label (e.g. "RNN: plural, p = 0.97") -> WordRow; every row the same words.
      unit: what a cell is, for the colour bar and the hover text ("word", "character").
    """
    labels = list(rows)
    first = rows[labels[0]]
    T = len(first.words)
    z = np.stack([log10_clipped(np.asarray(r.values, np.float64), floor) for r in rows.values()])
    zero = np.stack([np.asarray(r.values) == 0 for r in rows.values()])
    shown = np.where(zero, np.nan, z)
    finite = shown[np.isfinite(shown)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    words = [_plain_text(w) for w in first.words]
    text = [[words[s] for s in range(T)] for _ in labels]
    x = list(range(T))
    y = [_plain_text(label) for label in labels]
    data = [dict(type="heatmap", x=x, y=y, z=shown.tolist(), coloraxis="coloraxis",
                 text=text, xgap=3, ygap=6,
                 hovertemplate=f"%{{y}}<br>{unit} %{{x}}: %{{text}}<br>log10 ‖∂ℓ/∂e‖ = "
                               "%{z:.2f}<extra></extra>")]
    if zero.any():
        data.append(dict(type="heatmap", x=x, y=y, z=np.where(zero, 0.0, np.nan).tolist(),
                         colorscale=[[0, NO_DEPENDENCE_COLOUR], [1, NO_DEPENDENCE_COLOUR]],
                         showscale=False, xgap=3, ygap=6, text=text,
                         hovertemplate=f"%{{y}}<br>{unit} %{{x}}: %{{text}}<br>exactly 0"
                                       "<extra></extra>"))
    layout = dict(
        coloraxis=dict(colorscale=_colorscale(MAGNITUDE_SCALE), cmin=lo, cmax=hi,
                       colorbar=dict(title=dict(text=f"‖∂ℓ/∂e_s‖ reaching the {unit} (log scale)"),
                                     **_decade_colorbar(lo, hi))),
        xaxis=dict(visible=False, range=[-0.5, T - 0.5 + (1.6 if verb else 0)]),
        yaxis=dict(type="category", categoryorder="array", categoryarray=y[::-1],
                   autorange="reversed", showgrid=False, ticks="", showline=False),
    )
    # Each word on its cell, in white on the dark end of the scale and in ink on the light
    # end (a heatmap's text has one colour for every cell).
    for r, label in enumerate(y):
        for s_ in range(T):
            value = shown[r, s_]
            light = np.isfinite(value) and (value - lo) / (hi - lo) > LIGHT_FROM
            _annotate(layout, x=s_, y=label, xref="x", yref="y", text=words[s_],
                      font=dict(color=INK if light or not np.isfinite(value) else "#FFFFFF"))
    if first.subject is not None and 0 <= first.subject < T:
        s = first.subject
        layout["shapes"] = [dict(type="rect", x0=s - 0.5, x1=s + 0.5, y0=0, y1=1,
                                 xref="x", yref="y domain", line=dict(color=INK, width=3))]
        _annotate(layout, x=s, xref="x", y=1, yref="y domain", yanchor="bottom", yshift=4,
                  text="subject")
    if verb:
        _annotate(layout, x=T - 0.4, xref="x", y=0.5, yref="y domain", xanchor="left",
                  text=f"→ {_plain_text(verb)}?")
    height = 200 + 70 * len(labels)
    _layout(layout, title, height=height, margin=dict(b=COLORBAR_SPACE + 10, l=20))
    # Under the rows, as on the other maps (see `_heatmaps`); the grey's key beside it.
    below = -WORDS_BAR_OFFSET / (height - layout["margin"]["t"] - layout["margin"]["b"])
    layout["coloraxis"]["colorbar"].update(y=below, yanchor="top", yref="paper")
    if zero.any():
        _annotate(layout, x=0.64, xanchor="left", y=below, yanchor="top", xref="paper",
                  yref="paper", name="no dependence",
                  text=f"<span style='color:{NO_DEPENDENCE_COLOUR}'>■■</span> "
                       f"{NO_DEPENDENCE_TEXT}")
    return _figure(data, layout)


WORDS_BAR_OFFSET = 16  # px from the rows to the colour bar's title


LIGHT_FROM = 0.6  # Viridis is light enough for dark text above this fraction of its range


def accuracy_by_distance(curves: dict, baselines: dict, title: str) -> go.Figure:
    """Held-out accuracy against subject–verb distance: a line per trained cell and a dashed
    grey line per baseline, each named where it ends.

    Args:
      curves: cell -> (distances, accuracies in [0, 1]).
      baselines: name -> (distances, accuracies), e.g. "agree with the nearest noun".
    """
    data = []
    for i, (name, (d, acc)) in enumerate(baselines.items()):
        style = Line(REFERENCE_INK, ("dash", "dot")[i % 2], 2.5)
        data.append(_line(list(map(int, d)), (100 * np.asarray(acc, float)).tolist(), name,
                          style, f"{name}<br>distance %{{x}}: %{{y:.0f}} %<extra></extra>"))
    for cell, (d, acc) in curves.items():
        label = CELL_SHORT_NAMES.get(cell, cell)
        style = cell_line(cell)._replace(marker="circle")
        data.append(_line(list(map(int, d)), (100 * np.asarray(acc, float)).tolist(), label,
                          style, f"{label}<br>distance %{{x}}: %{{y:.0f}} %<extra></extra>"))
    all_d = np.concatenate([np.asarray(d, float) for d, _ in (*curves.values(),
                                                              *baselines.values())])
    layout = dict(xaxis=dict(title=dict(text="words from the subject to the verb")),
                  yaxis=dict(title=dict(text="correct (%)"), range=[-3, 106]))
    _integer_ticks(layout["xaxis"], float(all_d.min()), float(all_d.max()))
    _label_lines(data, layout)
    return _figure(data, _layout(layout, title, height=440))


WORD_KIND_COLOURS = {"singular noun": OKABE_ITO["blue"], "plural noun": OKABE_ITO["vermillion"],
                     "singular verb": OKABE_ITO["sky_blue"], "plural verb": OKABE_ITO["orange"],
                     "other word": "#7f7f7f"}


def word_map(points: np.ndarray, words, kinds, title: str, explained: float | None = None
             ) -> go.Figure:
    """Every word's trained vector in 2-D (the first two principal components), each point
    labelled with its word and coloured by its kind (WORD_KIND_COLOURS; nouns singular and
    plural apart)."""
    points = np.asarray(points, np.float64)
    data = []
    for kind, colour in WORD_KIND_COLOURS.items():
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        data.append(dict(type="scatter", mode="markers+text", name=kind,
                         x=points[idx, 0].tolist(), y=points[idx, 1].tolist(),
                         text=[_plain_text(words[i]) for i in idx], textposition="top center",
                         textfont=dict(size=MIN_FONT_SIZE, color=shade(colour, -0.25)
                                       if kind != "other word" else "#555555"),
                         marker=dict(size=10, color=colour),
                         hovertemplate="%{text}<br>" + kind + "<extra></extra>"))
    share = "" if explained is None else f" ({100 * explained:.0f} % of the variance)"
    layout = dict(xaxis=dict(title=dict(text="first principal component" + share)),
                  yaxis=dict(title=dict(text="second principal component")),
                  legend=dict(orientation="h", y=-0.2, x=0, xanchor="left", yanchor="top"))
    return _figure(data, _layout(layout, title, height=560, legend=True,
                                 margin=dict(b=130)))


# ---------------------------------------------------------------------------------------
# Architectures: the unrolled diagram and the output × input map

DIAGRAM_STEPS = 4  # boxes drawn per sequence (per half for the encoder–decoder)
LOSS_COLOUR = OKABE_ITO["vermillion"]
DECODER_COLOUR = OKABE_ITO["green"]


def _arrow(x0, y0, x1, y1, colour: str = INK, width: float = 2.5) -> dict:
    """An annotation drawn as an arrow from (x0, y0) to (x1, y1), in data coordinates."""
    return dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=width,
                arrowcolor=colour, standoff=0, startstandoff=0)


def architecture_diagram(kind: str, title: str) -> go.Figure:
    """The architecture unrolled: a box per step (the state h_t), arrows for the
    recurrence ("⋯" over the steps left out), inputs x_t entering from below where the
    architecture has them, and losses ℓ_t attached above where it has them (in
    LOSS_COLOUR). The encoder–decoder's decoder boxes are green (s_j), linked to the
    encoder by one thick orange arrow: the one state between the halves."""
    halves = 2 if kind == "encoder_decoder" else 1
    n = DIAGRAM_STEPS - halves + 1  # 4 steps, or 3 per half
    names = ["0", "1", "T−1"] if n == 3 else ["0", "1", "2", "T−1"]
    boxes = [(float(t), "h", names[t]) for t in range(n)]
    if halves == 2:
        boxes += [(n + 0.6 + j, "s", names[j]) for j in range(n)]
    shapes, notes = [], []
    for x, name, i in boxes:
        decoder = name == "s"
        colour = DECODER_COLOUR if decoder else CELL_COLOURS["rnn"]
        shapes.append(dict(type="rect", x0=x - 0.3, x1=x + 0.3, y0=0.7, y1=1.3, xref="x",
                           yref="y", line=dict(color=colour, width=3),
                           fillcolor=_rgba(colour, 0.12)))
        notes.append(dict(x=x, y=1, text=f"{name}<sub>{i}</sub>", showarrow=False,
                          xref="x", yref="y"))
        last = i == "T−1"
        if (not decoder) and (kind != "one_to_many" or i == "0"):
            notes.append(_arrow(x, 0.05, x, 0.68))
            notes.append(dict(x=x, y=-0.12, text=f"x<sub>{i}</sub>", showarrow=False,
                              xref="x", yref="y"))
        if decoder or kind in ("aligned", "one_to_many") or (kind == "many_to_one" and last):
            notes.append(_arrow(x, 1.32, x, 1.9, LOSS_COLOUR))
            notes.append(dict(x=x, y=2.1, text=f"ℓ<sub>{i}</sub>", showarrow=False,
                              xref="x", yref="y", font=dict(color=LOSS_COLOUR)))
    for (x, name, _), (x1, name1, i1) in zip(boxes, boxes[1:]):
        link = name != name1  # the one state between the halves
        notes.append(_arrow(x + 0.3, 1, x1 - 0.3, 1, OKABE_ITO["orange"] if link else INK,
                            4.0 if link else 2.5))
        if i1 == "T−1":  # the steps between are not drawn
            notes.append(dict(x=(x + x1) / 2, y=1.22, text="⋯", showarrow=False, xref="x",
                              yref="y"))
    if halves == 2:
        for x, text, colour in (((n - 1) / 2, "encoder: the source", INK),
                                (n + 0.6 + (n - 1) / 2, "decoder: the output", DECODER_COLOUR)):
            notes.append(dict(x=x, y=-0.5, text=text, showarrow=False, xref="x", yref="y",
                              font=dict(color=colour)))
    right = boxes[-1][0] + 0.45
    layout = dict(shapes=shapes, annotations=notes,
                  xaxis=dict(range=[-0.45, right], fixedrange=True),
                  yaxis=dict(range=[-0.75, 2.35], fixedrange=True))
    _layout(layout, title, height=300, margin=dict(l=10, r=10, b=10))
    for name in ("xaxis", "yaxis"):
        layout[name].update(visible=False, showgrid=False, zeroline=False)
    return _figure([], layout)


def architecture_map(values: np.ndarray, title: str, zrange: tuple, y_title: str = "output j",
                     x_title: str = "input i") -> go.Figure:
    """‖∂ℓ_j/∂x_i‖ over output j (rows) × input i (columns), log colour on the shared
    `zrange` (log10 low, high) of a page's maps. NaN (no such loss or input) is left blank;
    an exact 0 is the grey of no dependence."""
    v = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), -np.inf)
    z[np.isnan(v)] = np.nan
    z[np.isinf(v)] = np.nan
    steps_x, steps_y = np.arange(v.shape[1]), np.arange(v.shape[0])
    panel = Panel(title, z.astype(np.float32), steps_x, steps_y,
                  missing="‖∂ℓ_j/∂x_i‖ is inf or NaN everywhere: nothing to draw")
    data, layout = _heatmaps(
        [panel], {"coloraxis": ColourAxis("‖∂ℓ_j/∂x_i‖", *zrange, log10=True)}, title,
        x_title, y_title,
        f"{y_title}=%{{y}}<br>{x_title}=%{{x}}<br>log10 ‖∂ℓ_j/∂x_i‖ = %{{z:.2f}}<extra></extra>",
        height=420, y_reversed=True)
    # Half a page wide: the bar takes the plot's whole width, the grey's key goes under it.
    layout["coloraxis"]["colorbar"].update(len=1.0, x=0.0, xanchor="left")
    for a in layout.get("annotations", ()):
        if a.get("name") == "no dependence":
            a.update(x=1.0, xanchor="right", y=1.0, yanchor="bottom", text=a["text"].replace(
                NO_DEPENDENCE_TEXT, "exactly 0"))
    return _figure(data, layout)


def attention_weights(alpha: np.ndarray, title: str, source: str = "",
                      output: str = "") -> go.Figure:
    """Attention weights α_ji (output j rows × source input i columns), linear 0–1 colour;
    the ticks are the symbols themselves when `source` and `output` (strings) are given."""
    a = np.asarray(alpha, np.float64)
    panel = Panel(title, a.astype(np.float32), np.arange(a.shape[1]), np.arange(a.shape[0]),
                  missing="the attention weights are not finite: nothing to draw")
    data, layout = _heatmaps(
        [panel], {"coloraxis": ColourAxis("attention weight α_ji", 0.0, 1.0)}, title,
        "source input i", "output j",
        "output j=%{y}<br>source input i=%{x}<br>α = %{z:.3f}<extra></extra>",
        height=max(420, 200 + 24 * a.shape[0]), y_reversed=True)  # a row per symbol label
    layout["coloraxis"]["colorbar"].update(len=1.0, x=0.0, xanchor="left")
    for axis, labels in (("xaxis", source), ("yaxis", output)):
        if labels and len(labels) == (a.shape[1] if axis == "xaxis" else a.shape[0]):
            layout[axis].update(tickmode="array", tickvals=list(range(len(labels))),
                                ticktext=list(labels))
    return _figure(data, layout)
