"""The figures follow the projector template (STYLE.md, "Figures for a projector").

Checked on the figure objects themselves: what Plotly will draw, not how the code is written.
"""
import colorsys

import numpy as np
import plotly.graph_objects as go
import pytest

from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELLS, GATE_NAMES
from rnnviz.engine.jacobians import GateSaturation
from rnnviz.presentation import plots

RNG = np.random.default_rng(0)
T, H = 120, 16
DECAYING = 0.9 ** np.arange(T)[::-1]  # a vanishing profile: 1 at the last step


def saturation(names=("f", "g", "i", "o"), low=0.001, high=0.003):
    """As JAX returns gate dicts: sorted by name, not in the cell's order."""
    return {n: GateSaturation(np.zeros(H), np.zeros(H), low, high * (k + 1) / 4,
                              (-0.9, 0.9) if n == "g" else (0.1, 0.9))
            for k, n in enumerate(names)}


def every_figure():
    """One figure of each function of plots.py, on ordinary data."""
    grad_map = RNG.random((T, H)) * DECAYING[:, None]
    profiles = np.stack([DECAYING * (1 + k) for k in range(5)])
    gates = {g: RNG.random((T, H)) for g in ("f", "g", "i", "o")}
    eig = {"hh": np.exp(1j * RNG.uniform(0, 6.28, H)) * 0.9}
    yield "gradient_profile", plots.gradient_profile(
        {"‖∂L/∂h_t‖": DECAYING}, FLOOR, "profile", bound=DECAYING * 2,
        styles={"‖∂L/∂h_t‖": plots.cell_line("rnn")})
    yield "gradient_heatmap", plots.gradient_heatmap(grad_map, FLOOR, "map")
    yield "gradient_heatmap_row", plots.gradient_heatmap_row(
        {c: grad_map for c in ("rnn", "lstm", "gru")}, FLOOR, "row")
    yield "time_unit_heatmap", plots.time_unit_heatmap(
        RNG.normal(size=(T, H)), "h", "h_t", -1.0, 1.0, colorscale="RdBu")
    yield "gate_maps", plots.gate_maps(gates, {g: f"gate {g}" for g in gates})
    yield "saturation_bars", plots.saturation_bars(saturation(), "saturation")
    yield "eigenvalue_plane", plots.eigenvalue_plane(eig, {"hh": "W_hh"}, "eig", cell="rnn")
    yield "singular_value_band", plots.singular_value_band(
        np.arange(T), np.stack([DECAYING * 0.5, DECAYING, DECAYING * 2]), 1.0, "svals",
        cell="rnn")
    yield "connectivity_heatmap", plots.connectivity_heatmap(
        np.arange(40), np.tril(RNG.normal(-3, 1, (40, 40))), FLOOR, "conn")
    yield "loss_curves", plots.loss_curves(
        {"LSTM": (np.arange(50), np.exp(-np.arange(50) / 10) + 0.01, np.zeros(50, bool))},
        1 / 6, "1/6", "loss", styles={"LSTM": plots.cell_line("lstm")})
    yield "training_flow_maps", plots.training_flow_maps(
        {"LSTM": (np.arange(5) * 100, profiles), "GRU": (np.arange(5) * 100, profiles)},
        FLOOR, "maps")
    yield "profile_overlay", plots.profile_overlay(
        [("gain 0.9", DECAYING), ("gain 1.0", DECAYING ** 0.5)], FLOOR, "overlay")
    yield "forward_panel", plots.forward_panel(
        np.linspace(1, 5, T), {"f": np.full(T, 0.1), "i": np.full(T, 0.2)},
        "fraction saturated", {"h_t overflows at t = 90": 90}, "forward", cell="lstm")
    yield "depth_time_map", plots.depth_time_map(
        LAYERS, depth_rows(), FLOOR, [T - 1], "depth map")
    yield "connectivity_pair", plots.connectivity_pair(
        np.arange(40), {"two": RNG.normal(-3, 1, (40, 40)),
                        "one": np.where(np.tril(np.ones((40, 40))) > 0, -2.0, np.nan)},
        FLOOR, "pair")
    yield "layer_profiles", plots.gradient_profile(
        dict(zip(LAYERS, depth_rows())), FLOOR, "layers", styles=plots.layer_lines("lstm", LAYERS))


LAYERS = ["layer 1 →", "layer 1 ←", "layer 2 →", "layer 2 ←"]


def depth_rows() -> np.ndarray:
    """A 2-layer bidirectional network's ‖∂L/∂h_t‖ with the loss on the last step: the top
    backward row hears only t = T − 1 (exact zeros before it, no path to the loss)."""
    t = np.arange(T)
    rows = np.stack([0.95 ** (T - 1 - t), 0.9 ** t, 0.9 ** (T - 1 - t), np.zeros(T)])
    rows[3, -1] = 0.7
    return rows


FIGURES = list(every_figure())


def luminance(colour: str) -> float:
    """WCAG relative luminance of '#rrggbb'."""
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def axes(fig):
    return [(name, fig.layout[name]) for name in fig.layout
            if name.startswith(("xaxis", "yaxis")) and fig.layout[name].visible is not False]


def colorbars(fig):
    return [fig.layout[n].colorbar for n in fig.layout
            if n.startswith("coloraxis") and fig.layout[n].colorscale
            and fig.layout[n].showscale is not False]


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_text_is_dark_and_large(name, fig):
    assert fig.layout.font.size >= plots.MIN_FONT_SIZE
    assert luminance(fig.layout.font.color) < 0.05
    assert fig.layout.title.font.size >= plots.MIN_FONT_SIZE
    for axis_name, axis in axes(fig):
        assert axis.tickfont.size >= plots.MIN_FONT_SIZE, axis_name
        assert luminance(axis.tickfont.color) < 0.05, axis_name
        if axis.title.text:
            assert axis.title.font.size >= plots.MIN_FONT_SIZE, axis_name
            assert luminance(axis.title.font.color) < 0.05, axis_name
    for bar in colorbars(fig):
        assert bar.tickfont.size >= plots.MIN_FONT_SIZE
        assert bar.title.font.size >= plots.MIN_FONT_SIZE
    for a in fig.layout.annotations:
        assert a.font.size >= plots.MIN_FONT_SIZE, a.text
        if a.name != "line label":  # those take their line's colour (tested below)
            assert luminance(a.font.color) < 0.15, a.text
    if fig.layout.showlegend:
        assert fig.layout.legend.font.size >= plots.MIN_FONT_SIZE


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_log_axes_are_labelled_at_decades_only(name, fig):
    for axis_name, axis in axes(fig):
        if axis.type == "log":
            assert axis.tickmode == "linear" and axis.tick0 == 0, axis_name
            assert float(axis.dtick).is_integer() and axis.dtick >= 1, axis_name
            assert axis.minor.ticks == "" and not axis.minor.showgrid, axis_name
            lo, hi = axis.range
            assert hi - lo >= 1  # at least one labelled decade


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_step_axes_have_integer_ticks(name, fig):
    for axis_name, axis in axes(fig):
        if axis.title.text and "step" in axis.title.text:
            assert axis.tickformat == "d", axis_name
            assert float(axis.dtick).is_integer() and axis.dtick >= 1, axis_name


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_colour_bars_are_horizontal_with_titles_on_top(name, fig):
    for bar in colorbars(fig):
        assert bar.orientation == "h" and bar.title.side == "top"
    for trace in fig.data:
        if trace.type == "heatmap":
            assert trace.coloraxis, "every map uses a shared colour axis"


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_title_sits_below_the_toolbar_band(name, fig):
    title = fig.layout.title
    assert title.yref == "container" and title.yanchor == "top" and title.pad.t >= 28
    if title.text:
        assert fig.layout.margin.t >= title.pad.t + title.font.size + 10


def test_at_two_steps_the_time_axis_shows_whole_steps():
    fig = plots.gradient_profile({"g": np.array([0.5, 1.0])}, FLOOR, "T = 2")
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickformat == "d"
    heat = plots.gradient_heatmap(np.ones((2, 4)), FLOOR, "T = 2")
    assert heat.layout.xaxis.dtick == 1 and heat.layout.yaxis.dtick == 1


def test_decade_ranges_and_steps():
    assert plots.decade_range([1e-9, 1.0]) == (-9.0, 0.0)
    assert plots.decade_range([1e-9, 1.02]) == (-9.0, 0.0)  # no empty decade above 1
    assert plots.decade_range([2e-9, 30.0]) == (-9.0, 2.0)
    assert plots.decade_range([np.nan, np.inf]) is None
    assert plots.decade_dtick(9) == 1 and plots.decade_dtick(30) == 5
    assert plots.nice_step(1) == 1 and plots.nice_step(199) == 50 and plots.nice_step(0) == 1


def test_lines_are_labelled_where_they_end_in_their_colour():
    norms = {"LSTM": DECAYING ** 0.3, "GRU": DECAYING ** 2}
    styles = {"LSTM": plots.cell_line("lstm"), "GRU": plots.cell_line("gru")}
    fig = plots.gradient_profile(norms, FLOOR, "p", styles=styles)
    labels = plots.line_labels(fig)
    assert set(labels) == {"LSTM", "GRU"}
    assert not fig.layout.showlegend
    for name, a in labels.items():
        assert a["x"] == 0  # a profile arrives at t = 0, going back in time
        assert a["font"]["color"] == styles[name].colour
        end = np.log10(norms[name][0])
        # Rising lines: the label is under the stretch of line its text spans.
        assert a["yanchor"] == "top" and a["y"] <= end + 1e-9
    loss = plots.loss_curves({"GRU": (np.arange(10), np.linspace(1, 0.1, 10), np.zeros(10, bool))},
                             0.5, "1/2", "loss", styles={"GRU": plots.cell_line("gru")})
    assert plots.line_labels(loss)["GRU"]["x"] == 9  # at the end of training


def test_labels_of_coinciding_lines_do_not_overlap():
    fig = plots.gradient_profile({"h": DECAYING, "c": DECAYING * 1.01}, FLOOR, "p",
                                 bound=DECAYING * 1.02)
    shifts = sorted(a["yshift"] for a in plots.line_labels(fig).values())
    assert len(shifts) == 3
    assert all(b - a >= plots.LABEL_PX for a, b in zip(shifts, shifts[1:]))


def test_label_above_a_line_at_the_top_gets_room():
    # A falling line (exploding gradient): the label goes above its start, at the top
    # of the axis, which grows to hold it.
    growing = 1.2 ** np.arange(T)[::-1]
    fig = plots.gradient_profile({"g": growing}, FLOOR, "p")
    a = plots.line_labels(fig)["g"]
    assert a["yanchor"] == "bottom"
    assert fig.layout.yaxis.range[1] > np.log10(growing[0]) + 0.05 * (
        fig.layout.yaxis.range[1] - fig.layout.yaxis.range[0])


def test_one_colour_per_cell_and_paired_shades():
    colours = [plots.CELL_COLOURS[c] for c in CELLS]
    assert len(set(colours)) == len(CELLS)
    assert set(colours) <= set(plots.OKABE_ITO.values())
    for cell in CELLS:
        base = plots.CELL_COLOURS[cell]
        init, trained = plots.cell_line(cell, "init"), plots.cell_line(cell, "trained")
        assert plots.cell_line(cell).colour == base
        hue = lambda c: colorsys.rgb_to_hls(*(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]  # noqa: E731
        assert abs(hue(init.colour) - hue(base)) < 0.02
        assert abs(hue(trained.colour) - hue(base)) < 0.02
        assert luminance(init.colour) > luminance(base) > luminance(trained.colour)
        assert init.dash != trained.dash  # told apart without colour too
    with pytest.raises(ValueError):
        plots.cell_line("lstm", "later")


def test_the_colour_follows_the_cell_on_every_chart():
    for cell in CELLS:
        profile = plots.gradient_profile({"g": DECAYING}, FLOOR, "p",
                                         styles={"g": plots.cell_line(cell)})
        svals = plots.singular_value_band(np.arange(T), np.stack([DECAYING] * 3), 1.0, "s",
                                          cell=cell)
        forward = plots.forward_panel(np.ones(T), {"tanh′": np.ones(T)}, "slope", {}, "f",
                                      cell=cell)
        eig = plots.eigenvalue_plane({"hh": np.ones(4) * 0.5}, {}, "e", cell=cell)
        colour = plots.CELL_COLOURS[cell]
        assert profile.data[0].line.color == colour
        assert {t.line.color for t in svals.data} == {colour}
        assert forward.data[0].line.color == colour
        assert eig.data[1].marker.color == colour


def test_gates_keep_the_cells_order():
    assert plots.saturation_bars(saturation(), "s").data[0].x == GATE_NAMES["lstm"]
    gates = {g: np.ones((T, H)) * 0.5 for g in ("f", "g", "i", "o")}
    fig = plots.gate_maps(gates, {})
    assert [t.name for t in fig.data] == list(GATE_NAMES["lstm"])
    gru = plots.saturation_bars(saturation(("n", "r", "z")), "s")
    assert gru.data[0].x == GATE_NAMES["gru"]


def test_saturation_axis_fits_small_fractions():
    fig = plots.saturation_bars(saturation(low=0.0005, high=0.003), "s")
    top = fig.layout.yaxis.range[1]
    assert 0.003 < top < 0.01  # not 0–100% for bars of at most 0.3%
    assert fig.data[0].texttemplate == "%{y:.2%}"  # 0.30%, not 0%
    big = plots.saturation_bars(saturation(low=0.5, high=0.9), "s")
    assert big.layout.yaxis.range[1] >= 0.9
    assert plots.percent_axis([0, 0]) == (0.01, 1)
    # Two charts to compare share one axis.
    few, many = saturation(high=0.001), saturation(high=0.2)
    top = plots.saturation_top(few, many)
    assert (plots.saturation_bars(few, "a", top=top).layout.yaxis.range
            == plots.saturation_bars(many, "b", top=top).layout.yaxis.range)


def test_a_row_of_maps_shares_one_colour_bar_and_one_width():
    maps = {c: RNG.random((T, H)) * 10.0 ** -k for k, c in enumerate(("rnn", "lstm", "gru"))}
    fig = plots.gradient_heatmap_row(maps, FLOOR, "row")
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 3
    assert {t.coloraxis for t in heatmaps} == {"coloraxis"}
    assert not any(t.showscale for t in heatmaps)
    assert len(colorbars(fig)) == 1
    widths = {round(fig.layout[f"xaxis{k or ''}"].domain[1] - fig.layout[f"xaxis{k or ''}"].domain[0], 6)
              for k in ("", 2, 3)}
    assert len(widths) == 1
    lo, hi = fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax
    all_z = np.concatenate([np.asarray(t.z, np.float64).ravel() for t in heatmaps])
    assert lo <= np.nanmin(all_z) and np.nanmax(all_z) <= hi  # one scale spans all three
    labs = fig.layout.coloraxis.colorbar.ticktext
    assert all(t == "1" or t.startswith("10") for t in labs)  # powers of ten, not log10


def test_gate_maps_have_one_bar_per_kind_of_gate():
    gates = {g: np.ones((T, H)) * 0.5 for g in GATE_NAMES["lstm"]}
    fig = plots.gate_maps(gates, {})
    by_axis = {t.name: t.coloraxis for t in fig.data}
    assert by_axis["i"] == by_axis["f"] == by_axis["o"] != by_axis["g"]
    assert len(colorbars(fig)) == 2


def test_reference_lines_are_labelled_on_their_line():
    svals = plots.singular_value_band(np.arange(T), np.stack([DECAYING * 0.5, DECAYING,
                                                              DECAYING * 2]), 1.0, "s")
    label = next(a for a in svals.layout.annotations if a.text.startswith("1 (= 1/γ)"))
    assert label.y == 0.0  # log10(1): on the line, not a decade away from it
    loss = plots.loss_curves({"x": (np.arange(5), np.ones(5), np.zeros(5, bool))}, 1 / 6,
                             "1/6", "l")
    base = next(a for a in loss.layout.annotations if a.text.startswith("no-memory"))
    assert base.y == pytest.approx(np.log10(1 / 6))


def test_a_trace_that_cannot_be_drawn_is_named_in_words():
    nan = np.full(T, np.nan)
    fig = plots.gradient_profile({"‖∂L/∂h_t‖": nan}, FLOOR, "p")
    (message,) = plots.missing_messages(fig)
    assert "‖∂L/∂h_t‖ is inf or NaN" in message.replace("<br>", " ")
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    # With the bound still drawable, the axes stay and the message names the gradient.
    with_bound = plots.gradient_profile({"‖∂L/∂h_t‖": nan}, FLOOR, "p", bound=DECAYING)
    assert plots.missing_messages(with_bound) and with_bound.layout.yaxis.visible is not False
    below = plots.gradient_profile({"g": np.full(T, 1e-40)}, FLOOR, "p")
    assert "below 1e-30 at every step" in plots.missing_messages(below)[0].replace("<br>", " ")
    heat = plots.gradient_heatmap(np.full((T, H), np.nan), FLOOR, "map")
    assert "inf or NaN" in plots.missing_messages(heat)[0].replace("<br>", " ")
    assert heat.layout.xaxis.visible is False and not colorbars(heat)
    row = plots.gradient_heatmap_row({"a": np.ones((T, H)), "b": np.full((T, H), np.nan)},
                                     FLOOR, "row")
    assert len(plots.missing_messages(row)) == 1 and row.layout.xaxis.visible is not False
    assert row.layout.xaxis2.visible is False
    svals = plots.singular_value_band(np.arange(T), np.full((3, T), np.nan), 1.0, "s")
    assert plots.missing_messages(svals)
    fwd = plots.forward_panel(nan, {"f": nan}, "fraction saturated", {}, "f")
    assert len(plots.missing_messages(fwd)) == 2
    # A state that stays exactly 0 (zero inputs) is not "inf or NaN".
    zero = plots.forward_panel(np.zeros(T), {"tanh′": np.ones(T)}, "slope", {}, "f")
    (message,) = plots.missing_messages(zero)
    assert "= 0 at every step" in message.replace("<br>", " ") and "NaN" not in message
    ordinary = plots.gradient_profile({"g": DECAYING}, FLOOR, "p")
    assert not plots.missing_messages(ordinary)


def test_the_relu_blow_up_preset_says_what_is_missing():
    """The preset whose gradient is all NaN: no chart of it is drawn empty."""
    from rnnviz.experiments import one_layer
    from rnnviz.experiments.presets import PRESETS

    preset = next(p for p in PRESETS if p.name == "relu RNN blowing up")
    config, _ = one_layer.FlowConfig.from_query(preset.query)
    r = one_layer.gradient_flow(config)
    assert not np.isfinite(r.grad_norms).any()  # what makes this the hard case
    profile = plots.gradient_profile({"‖∂L/∂h_t‖": r.grad_norms}, FLOOR, "p", r.bound)
    heat = plots.gradient_heatmap(r.grad_map, FLOOR, "map")
    for fig in (profile, heat):
        assert any("inf or NaN" in m.replace("<br>", " ") for m in plots.missing_messages(fig))
    assert heat.layout.xaxis.visible is False


def test_words_are_wrapped_to_the_panel():
    assert plots.wrap("a b c", 100) == "a b c"
    lines = plots.wrap("one two three four five six seven eight nine ten eleven", 16).split("<br>")
    assert len(lines) > 1 and all(len(line) <= 16 for line in lines)
    assert plots.wrap("first<br>second", 100) == "first<br>second"


def test_maps_sharing_a_y_axis_share_its_ticks():
    fig = plots.training_flow_maps({"long": (np.arange(8) * 100, np.ones((8, T))),
                                    "short": (np.arange(2) * 40, np.ones((2, T)))}, FLOOR, "m")
    assert fig.layout.yaxis.dtick == fig.layout.yaxis2.dtick == 200


def test_a_label_at_the_far_edge_runs_back_into_the_plot():
    one_point = np.full(T, 1e-40)
    one_point[-1] = 1.0  # drawn only at the last step, labelled at its (left) end
    fig = plots.gradient_profile({"layer 2 ←": one_point, "g": DECAYING}, FLOOR, "p")
    labels = plots.line_labels(fig)
    assert labels["layer 2 ←"]["xanchor"] == "right"  # not past the right edge
    assert labels["g"]["xanchor"] == "left"


def _layout_by_plotly_updates(fig, title, height=460, margin=None, legend=False):
    """The template applied with Plotly's own update calls, one by one: the reference for
    `plots._layout`, which merges the same settings as dicts in one assignment."""
    fig.update_layout(template=plots.TEMPLATE, **{**plots._LAYOUT, "showlegend": legend},
                      height=height)
    top = plots.TOP_MARGIN if title else plots.UNTITLED_TOP_MARGIN
    fig.update_layout(title_text=title,
                      margin=dict(dict(l=80, r=30, t=top, b=70), **(margin or {})))
    fig.update_xaxes(**plots._AXIS)
    fig.update_yaxes(**plots._AXIS)
    for name in fig.layout:
        if name.startswith("coloraxis") and fig.layout[name].colorscale:
            fig.layout[name].colorbar.update(plots._merge(
                plots._COLORBAR, fig.layout[name].colorbar.to_plotly_json()))
    fig.update_annotations(font_size=max(plots.FONT_SIZE, plots.MIN_FONT_SIZE))
    for a in fig.layout.annotations:
        if a.font.color is None:
            a.font.color = plots.INK
    return fig


def test_layout_is_what_plotlys_own_updates_give(monkeypatch):
    """Every figure's template, applied by `_layout` to its layout dict, equals the same
    settings applied with Plotly's update calls (the same JSON, keys in any order)."""
    import copy
    import json

    import plotly.io as pio

    fast, compared = plots._layout, []

    def both(layout, *args, **kwargs):
        reference = _layout_by_plotly_updates(go.Figure(layout=copy.deepcopy(layout)), *args,
                                              **kwargs)
        result = fast(layout, *args, **kwargs)  # in place, as the builders use it
        compared.append(json.loads(pio.to_json(plots._figure([], result), validate=False))
                        == json.loads(pio.to_json(reference, validate=False)))
        return result

    monkeypatch.setattr(plots, "_layout", both)
    names = [name for name, _ in every_figure()]
    assert len(compared) >= len(names) and all(compared), compared


def _label_box_px(fig, a) -> tuple[float, float]:
    """Where a direct label's text is drawn, in pixels up from the bottom of the plot."""
    lo, hi = fig.layout.yaxis.range
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    base = (a["y"] - lo) / (hi - lo) * plot_px + a.get("yshift", 0)
    return (base, base + plots.LABEL_PX) if a["yanchor"] == "bottom" else (base - plots.LABEL_PX,
                                                                            base)


def test_loss_labels_sit_at_their_own_curves_end():
    # As in the Training lab's default compare run (rnn, lstm, gru): the GRU ends below the
    # LSTM, and over the last stretch the GRU's noisy curve rises to its end while the
    # LSTM's falls to its. Each label must be nearest its own curve's last point.
    from rnnviz.engine.cells import CELL_LABELS
    steps = np.arange(1, 701)
    wobble = lambda f, a: 10 ** (a * np.sin(steps * f))  # noqa: E731
    curves = {"rnn": 0.15 * wobble(0.9, 0.05), "lstm": 1.8e-3 * wobble(1.3, 0.18),
              "gru": 2.4e-4 * wobble(1.7, 0.35)}
    curves["lstm"][-1], curves["gru"][-1] = 1.2e-3, 4.9e-4
    runs = {CELL_LABELS[c]: (steps, y, np.zeros(steps.size, bool)) for c, y in curves.items()}
    fig = plots.loss_curves(runs, 1 / 6, "1/6", "Training loss",
                            styles={CELL_LABELS[c]: plots.cell_line(c) for c in curves})
    labels = plots.line_labels(fig)
    lo, hi = fig.layout.yaxis.range
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    ends = {}
    for trace in fig.data:
        if trace.name in labels:  # name -> its own trace's last point
            ends[trace.name] = (trace.x[-1], (np.log10(trace.y[-1]) - lo) / (hi - lo) * plot_px)
    assert set(ends) == set(labels) == {CELL_LABELS[c] for c in curves}
    centre = {}
    for name, a in labels.items():
        assert a["x"] == ends[name][0] == 700
        box = _label_box_px(fig, a)
        centre[name] = (box[0] + box[1]) / 2
        nearest = min(ends, key=lambda n: abs(ends[n][1] - centre[name]))
        assert nearest == name, (name, box, ends)
    # the labels stand in the order the curves end, top to bottom
    assert sorted(labels, key=centre.get) == sorted(ends, key=lambda n: ends[n][1])


# --- zero is not small: exact zeros, colour bars, per-layer profiles --------------------

NO_DEPENDENCE = plots.NO_DEPENDENCE_TEXT


def heatmap_traces(fig):
    """(the colour-scaled traces, the "no dependence" traces) of a map."""
    maps = [t for t in fig.data if t.type == "heatmap"]
    return ([t for t in maps if t.name != NO_DEPENDENCE], [t for t in maps if t.name == NO_DEPENDENCE])


@pytest.mark.parametrize("name, fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_colour_bars_have_at_least_three_labelled_ticks(name, fig):
    for bar in colorbars(fig):
        if bar.tickmode == "array":
            assert len(bar.ticktext) >= 3 and len(set(bar.ticktext)) == len(bar.ticktext)
            assert len(bar.tickvals) == len(bar.ticktext)


@pytest.mark.parametrize("lo, hi", [(-0.2, 0.3), (-0.3, 0.7), (-2.6, -0.15), (-5, -4.9),
                                    (-30, 0), (2.0, 2.1)])
def test_a_narrow_colour_range_still_gets_three_ticks_inside_it(lo, hi):
    """With the loss on every step the map spans less than a decade: the bar had one tick."""
    ticks = plots._decade_colorbar(lo, hi)
    assert len(ticks["tickvals"]) >= 3
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in ticks["tickvals"])
    for v, text in zip(ticks["tickvals"], ticks["ticktext"]):  # each label is its value
        number = text.replace("<sup>", "e").replace("</sup>", "").replace("−", "-")
        number = number.replace("·10e", "e").replace("10e", "1e")
        assert abs(np.log10(float(number)) - v) < 0.02, (text, v)
    ramp = np.geomspace(10.0 ** lo, 10.0 ** hi, T)[:, None] * np.ones((1, H))
    fig = plots.gradient_heatmap(ramp, FLOOR, "narrow")
    assert len(colorbars(fig)[0].ticktext) >= 3


def structural_and_flushed(shape_t: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, width) magnitudes: column 0 exactly 0 before step 40 with a resolved value next
    to it (no path to the loss), column 1 fading through 1e-31 and then flushed to 0 by
    float32 (below the floor, not "no dependence"); the masks of both."""
    v = RNG.random((shape_t, width)) * 0.5 + 0.1
    structural = np.zeros_like(v, bool)
    structural[:40, 0] = True
    v[structural] = 0.0
    flushed = np.zeros_like(v, bool)
    flushed[:30, 1] = True
    v[:, 1][flushed[:, 1]] = 0.0
    v[30:40, 1] = np.geomspace(1e-38, 1e-31, 10)
    return v, structural, flushed


def maps_with_zeros():
    """Every kind of map, each given exact zeros with no path and zeros float32 flushed."""
    v, structural, flushed = structural_and_flushed(T, H)
    yield "gradient_heatmap", plots.gradient_heatmap(v, FLOOR, "m"), structural.T, flushed.T
    yield "gradient_heatmap_row", plots.gradient_heatmap_row({"a": v, "b": v}, FLOOR, "r"), \
        structural.T, flushed.T
    yield "training_flow_maps", plots.training_flow_maps(
        {"LSTM": (np.arange(H) * 10, v.T)}, FLOOR, "t"), structural.T, flushed.T
    yield "depth_time_map", plots.depth_time_map(
        [f"row {k}" for k in range(H)], v.T, FLOOR, [], "d"), structural.T, flushed.T
    with np.errstate(divide="ignore"):
        logs = np.log10(v[:40, :40].T)  # rows t, columns s; -inf where exactly 0
    yield "connectivity_heatmap", plots.connectivity_heatmap(
        np.arange(logs.shape[1]), logs, FLOOR, "c"), np.isneginf(logs) & structural[:40, :40].T, \
        flushed[:40, :40].T
    yield "connectivity_pair", plots.connectivity_pair(
        np.arange(logs.shape[1]), {"a": logs, "b": logs}, FLOOR, "p"), \
        np.isneginf(logs) & structural[:40, :40].T, flushed[:40, :40].T


MAPS = list(maps_with_zeros())


@pytest.mark.parametrize("name, fig, structural, flushed", MAPS, ids=[m[0] for m in MAPS])
def test_exact_zeros_are_a_colour_of_their_own_on_every_map(name, fig, structural, flushed):
    scaled, zeros = heatmap_traces(fig)
    assert zeros and len(zeros) == len(scaled)
    floor = np.log10(FLOOR)
    for main, zero in zip(scaled, zeros):
        z, grey = np.asarray(main.z, np.float64), np.asarray(zero.z, np.float64)
        np.testing.assert_array_equal(np.isfinite(grey), structural)
        assert np.isnan(z[structural]).all()  # not on the colour scale
        if flushed.any():  # a gradient that faded through the floor is "below" it
            assert (z[flushed] == np.float32(floor)).all()
        assert zero.coloraxis != main.coloraxis
        assert fig.layout[zero.coloraxis].showscale is False
    assert any(a.name == "no dependence" and NO_DEPENDENCE in a.text for a in fig.layout.annotations)


def test_the_colour_scale_spans_the_nonzero_values_only():
    v, structural, _ = structural_and_flushed(T, H)
    v[:, 1] = 0.3  # no tiny values now: nothing below the floor
    fig = plots.gradient_heatmap(v, FLOOR, "m")
    axis = fig.layout.coloraxis
    nonzero = np.log10(v[v > 0])
    assert axis.cmin == pytest.approx(nonzero.min(), abs=1e-5)
    assert axis.cmax == pytest.approx(max(nonzero.max(), nonzero.min() + 1), abs=1e-5)
    assert axis.cmin > -2  # the old map spanned 30 decades down to 1e-30


def test_depth_map_of_a_three_layer_bidirectional_lstm_reading_the_last_step():
    """The issue's map: the fade along time and across layers in distinguishable colours;
    the top backward layer's exact zeros in their own trace, outside the colour range."""
    from rnnviz.experiments import deep

    c, _ = deep.DeepConfig.from_query({"cell": "lstm", "layers": "3", "T": "60", "H": "8",
                                       "bidirectional": "true", "read": "last"})
    r = deep.deep_flow(c)
    labels = [p.label for p in r.profiles]
    fig = plots.depth_time_map(labels, r.depth_map, FLOOR, r.read_steps, "map")
    (main,), (zero,) = heatmap_traces(fig)
    z = np.asarray(main.z, np.float64)  # rows as labels, columns time
    np.testing.assert_array_equal(np.isfinite(np.asarray(zero.z, np.float64)), r.depth_map == 0)
    assert (r.depth_map[labels.index("layer 3 ←"), :-1] == 0).all()
    lo, hi = fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax
    nonzero = np.log10(r.depth_map[r.depth_map > 0])
    assert lo == pytest.approx(nonzero.min(), abs=1e-4) and hi == pytest.approx(nonzero.max(), abs=1e-4)
    assert lo > np.log10(FLOOR) + 10  # no 1e-30 in the colour range
    span = hi - lo
    for label, row in zip(labels, z):
        drawn = row[np.isfinite(row)]
        if drawn.size > 1:  # along time: the row's colours cover a fifth of the scale or more
            assert np.ptp(drawn) >= 0.2 * span, label
    forward = [labels.index(f"layer {k} →") for k in (1, 2, 3)]
    assert np.ptp(z[forward, 0]) >= 0.1 * span  # across layers, at the far step
    assert len(colorbars(fig)[0].ticktext) >= 3


def test_profiles_say_no_path_for_exact_zeros_and_below_the_floor_for_tiny_values():
    v, structural, flushed = structural_and_flushed(T, 2)
    fig = plots.gradient_profile({"no path": v[:, 0], "faded": v[:, 1]}, FLOOR, "p")
    names = [t.name for t in fig.data]
    assert f"no path: {plots.NO_PATH_TEXT}" in names and f"faded: {plots.NO_PATH_TEXT}" not in names
    assert f"faded {plots.FLOOR_TEXT}" in names and f"no path {plots.FLOOR_TEXT}" not in names
    marks = next(t for t in fig.data if t.name == f"no path: {plots.NO_PATH_TEXT}")
    np.testing.assert_array_equal(marks.x, np.flatnonzero(structural[:, 0]))
    assert marks.yaxis == "y2" and fig.layout.yaxis2.visible is False  # off the log axis
    assert fig.layout.yaxis.domain[0] > 0 and fig.layout.xaxis.position == 0
    assert any(a.name == "no path" and a.text == f"no path: {plots.NO_PATH_TEXT}"
               for a in fig.layout.annotations)  # one line without a path: named
    crosses = next(t for t in fig.data if t.name == f"faded {plots.FLOOR_TEXT}")
    np.testing.assert_array_equal(crosses.x, np.r_[np.flatnonzero(flushed[:, 1]), 30 + np.arange(10)])


def test_a_line_of_one_point_is_drawn_as_a_dot():
    only_last = np.r_[np.zeros(T - 1), 0.5]
    fig = plots.gradient_profile({"top ←": only_last}, FLOOR, "p")
    dots = [t for t in fig.data if t.mode == "markers" and t.name == "top ←"]
    assert dots and list(dots[0].x) == [T - 1] and list(dots[0].y) == [0.5]


def hue(colour: str) -> float:
    return colorsys.rgb_to_hsv(*(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]


@pytest.mark.parametrize("cell", CELLS)
def test_layer_lines_one_hue_a_dash_per_layer_a_marker_per_direction(cell):
    labels = [f"layer {k} {a}" for k in (1, 2, 3, 4) for a in "→←"]
    styles = plots.layer_lines(cell, labels)
    for style in styles.values():
        assert abs(hue(style.colour) - hue(plots.CELL_COLOURS[cell])) < 0.02
    for k in (1, 2, 3, 4):
        forward, backward = styles[f"layer {k} →"], styles[f"layer {k} ←"]
        assert forward.dash == backward.dash and forward.colour == backward.colour
        assert (forward.marker, backward.marker) == ("triangle-right", "triangle-left")
        assert (forward.label_side, backward.label_side) == ("left", "right")
    assert len({styles[f"layer {k} →"].dash for k in (1, 2, 3, 4)}) == 4
    assert len({styles[f"layer {k} →"].colour for k in (1, 2, 3, 4)}) == 4
    for style in styles.values():  # names readable on white
        assert luminance(style.label_colour or style.colour) < 0.45


def test_layer_labels_sit_at_their_line_ends():
    """A forward line is named at its left end, a backward one at its right end (where
    each arrives going back along its own reading): not all stacked at the left edge."""
    fig = dict(FIGURES)["layer_profiles"]
    labels = plots.line_labels(fig)
    assert set(labels) == set(LAYERS)
    for trace in fig.data:
        if trace.name in labels and trace.meta:
            x = np.asarray(trace.x)[np.isfinite(np.asarray(trace.y, np.float64))]
            end = x.max() if "←" in trace.name else x.min()
            assert labels[trace.name]["x"] == end, trace.name
    assert {a["x"] for a in labels.values()} == {0, T - 1}
    for name, a in labels.items():  # the text runs into the plot from its end
        assert a["xanchor"] == ("right" if "←" in name else "left")


# --- every figure is valid Plotly ----------------------------------------------------------
# The builders make their figures from dicts without Plotly's validation (`plots._figure`,
# for speed): a misspelt property would reach the browser unnoticed. Plotly's validation of
# each builder's figure catches it here.

BUILDERS = sorted(name for name, f in vars(plots).items()  # every public f(...) -> go.Figure
                  if callable(f) and not name.startswith("_")
                  and getattr(f, "__module__", None) == plots.__name__
                  and getattr(f, "__annotations__", {}).get("return") in (go.Figure, "go.Figure"))


def figures_to_validate():
    """(builder, figure) on ordinary data, and where a builder draws something else instead
    (words for what is missing, exact zeros, a panel of nothing)."""
    nan = np.full(T, np.nan)
    yield "blank", plots.blank()
    for name, fig in FIGURES:
        yield ("gradient_profile" if name == "layer_profiles" else name), fig
    for name, fig, _, _ in MAPS:
        yield name, fig
    v, _, _ = structural_and_flushed(T, 2)
    yield "gradient_profile", plots.gradient_profile({"no path": v[:, 0], "faded": v[:, 1]},
                                                     FLOOR, "p")
    yield "gradient_profile", plots.gradient_profile({"g": nan}, FLOOR, "p")
    yield "gradient_heatmap_row", plots.gradient_heatmap_row(
        {"a": np.ones((T, H)), "b": np.full((T, H), np.nan)}, FLOOR, "row")
    yield "gradient_heatmap", plots.gradient_heatmap(np.full((T, H), np.nan), FLOOR, "map")
    yield "forward_panel", plots.forward_panel(nan, {"f": nan}, "fraction saturated",
                                               {"mark": 3}, "f")
    yield "singular_value_band", plots.singular_value_band(np.arange(T), np.full((3, T), np.nan),
                                                           1.0, "s")
    yield "loss_curves", plots.loss_curves(
        {"x": (np.arange(5), np.full(5, np.nan), np.array([0, 1, 0, 1, 0], bool))}, 0.5, "1/2", "l")
    yield "gate_maps", plots.gate_maps({g: np.full((T, H), 0.5) for g in GATE_NAMES["gru"]}, {})
    words = ("the", "keys", "are")
    yield "word_gradients", plots.word_gradients(
        {"RNN": plots.WordRow(words, np.array([1e-9, 0.0, 1.0]), 1),
         "LSTM": plots.WordRow(words, np.full(3, np.nan), 1)}, FLOOR, "w", verb="are")
    yield "accuracy_by_distance", plots.accuracy_by_distance(
        {"lstm": (np.arange(1, 4), np.array([1.0, 0.5, np.nan]))},
        {"nearest": (np.arange(1, 4), np.full(3, 0.5))}, "a")
    yield "word_map", plots.word_map(np.zeros((2, 2)), ["a", "b"], ["other word"] * 2, "m")
    for kind in ("many_to_one", "aligned", "one_to_many", "encoder_decoder"):
        yield "architecture_diagram", plots.architecture_diagram(kind, kind)
    aligned = np.tril(np.full((4, 4), 0.5))  # an exact-zero triangle: the grey and its key
    yield "architecture_map", plots.architecture_map(aligned, "m", (-2.0, 0.0))
    yield "architecture_map", plots.architecture_map(np.full((4, 4), np.nan), "m", (0.0, 1.0))
    yield "attention_weights", plots.attention_weights(np.full((3, 3), 1 / 3), "a", "ABC", "CBA")
    yield "attention_weights", plots.attention_weights(np.full((3, 3), np.nan), "a")


VALIDATED = list(figures_to_validate())


@pytest.mark.parametrize("name, fig", VALIDATED, ids=[n for n, _ in VALIDATED])
def test_every_figure_is_valid_plotly(name, fig):
    go.Figure(fig.to_dict())  # validated: raises on a property Plotly does not know


def test_every_builder_is_validated():
    assert set(BUILDERS) == {name for name, _ in VALIDATED}, BUILDERS


@pytest.mark.parametrize("rows, cols, titles, options", [
    (1, 1, None, dict(shared_yaxes=True, horizontal_spacing=0.0, vertical_spacing=0.12)),
    (1, 3, ["a", "", "c"], dict(shared_yaxes=True, horizontal_spacing=0.04,
                                vertical_spacing=0.12)),
    (2, 2, ["i", "f", "g"], dict(shared_yaxes=True, horizontal_spacing=0.04,
                                 vertical_spacing=0.12)),
    (2, 1, None, dict(shared_xaxes=True, vertical_spacing=0.1)),
])
def test_subplot_grids_are_make_subplots_own(rows, cols, titles, options):
    """The grids copied from a cached make_subplots layout: the same axes, domains and
    title annotations as make_subplots makes for these titles."""
    from plotly.subplots import make_subplots

    expected = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                             **options).to_dict()["layout"]
    del expected["template"]
    got = plots._subplots(rows, cols, titles, **options)
    if not titles:
        assert "annotations" not in expected and "annotations" not in got
    assert got == expected
    got["xaxis"]["domain"] = [0, 0]  # a copy: the cached grid is not changed
    assert plots._subplots(rows, cols, titles, **options) == expected


def test_the_architecture_diagrams_attach_losses_and_inputs_where_each_shape_has_them():
    def marks(kind):
        notes = plots.architecture_diagram(kind, "").layout.annotations
        text = [a.text for a in notes if a.text]
        return (sum(t.startswith("ℓ") for t in text), sum(t.startswith("x") for t in text),
                sum(t.startswith("s<sub>") for t in text))

    n = plots.DIAGRAM_STEPS
    assert marks("many_to_one") == (1, n, 0)
    assert marks("aligned") == (n, n, 0)
    assert marks("one_to_many") == (n, 1, 0)
    assert marks("encoder_decoder") == (n - 1, n - 1, n - 1)  # 3 source steps, 3 outputs

