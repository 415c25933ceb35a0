"""Figures: numpy arrays in, Plotly figures out. Sized and coloured for a projector."""
import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis import circle, complex_xy

FONT_SIZE = 18
# Colour-blind-safe: Viridis for magnitudes, Okabe-Ito for lines.
MAGNITUDE_SCALE = "Viridis"
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
FLOOR_TEXT = "below 1e-30 (not resolved)"


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, font=dict(size=FONT_SIZE + 4)),
        font=dict(size=FONT_SIZE),
        height=height,
        margin=dict(l=90, r=30, t=70, b=70),
        template="plotly_white",
        legend=dict(font=dict(size=FONT_SIZE - 2)),
    )
    return fig


def blank(height: int = 10) -> go.Figure:
    """A figure with nothing in it and no frame (to make the browser load Plotly early)."""
    fig = go.Figure()
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def log10_clipped(values: np.ndarray, floor: float) -> np.ndarray:
    """log10 of magnitudes as float32, with values below `floor` (and 0) set to log10(floor).

    inf/NaN become NaN, which Plotly leaves blank; callers say in words where they are.
    """
    v = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.maximum(v, floor))
    out[~np.isfinite(v)] = np.nan
    return out.astype(np.float32)


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


def time_unit_heatmap(
    values: np.ndarray, title: str, quantity: str, zmin: float, zmax: float,
    colorscale=MAGNITUDE_SCALE, show_scale: bool = True,
) -> go.Figure:
    """Any (T, H) array as a heatmap over time step × hidden unit (time downsampled).

    Args:
      quantity: what a cell's colour is, for the colour bar and the hover text.
    """
    t, z = downsample_time(np.asarray(values, np.float32))
    fig = go.Figure(
        go.Heatmap(
            z=z.T, x=t, y=np.arange(values.shape[1]), colorscale=colorscale,
            zmin=zmin, zmax=zmax, showscale=show_scale,
            colorbar=dict(title=dict(text=quantity, side="right")),
            hovertemplate=f"time step t=%{{x}}<br>hidden unit %{{y}}<br>{quantity} = %{{z:.3g}}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="time step t")
    fig.update_yaxes(title_text="hidden unit")
    return _layout(fig, title)


def gradient_heatmap(
    grad_map: np.ndarray, floor: float, title: str, quantity="∂L/∂h_t", zrange=None,
    show_scale: bool = True,
) -> go.Figure:
    """Heatmap of |∂L/∂h_t| over time step × hidden unit, log10 colour scale.

    Args:
      grad_map: (T, H) magnitudes; values below `floor` are clipped to it.
      zrange: (low, high) of the colour scale in log10; give several maps the same one to
        compare them. By default the range of the data.
    """
    z = log10_clipped(grad_map, floor)
    lo, hi = zrange if zrange is not None else log10_range(z)
    return time_unit_heatmap(z, title, f"log10 |{quantity}|", lo, hi, show_scale=show_scale)


def log10_range(*log10_arrays) -> tuple[float, float]:
    """(low, high) of the finite values of log10 arrays, at least one decade apart."""
    finite = np.concatenate([np.asarray(a, np.float64)[np.isfinite(a)].ravel() for a in log10_arrays])
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return lo, max(hi, lo + 1.0)


def gradient_profile(
    norms: dict[str, np.ndarray],
    floor: float,
    title: str,
    bound: np.ndarray | None = None,
    y_title: str = "‖∂L/∂h_t‖ (log scale)",
    t: np.ndarray | None = None,
    x_title: str = "time step t",
) -> go.Figure:
    """Norms against t on a log axis; values below `floor` drawn on the floor as crosses.

    Args:
      norms: name -> (n,) array; one line each.
      bound: optional (n,) upper bound, drawn dashed (Pascanu et al. 2013).
      t: the n x values (default 0 … n−1), e.g. sampled time steps.
    """
    fig = go.Figure()
    any_below = False
    for i, (name, values) in enumerate(norms.items()):
        v = np.asarray(values, np.float64)
        t = np.arange(v.size) if t is None else np.asarray(t)
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        shown = np.where(np.isfinite(v) & (v >= floor), v, np.nan)
        fig.add_trace(
            go.Scatter(
                x=t, y=shown, mode="lines", name=name, line=dict(color=colour, width=3),
                hovertemplate=f"t=%{{x}}<br>{name} = %{{y:.3e}}<extra></extra>",
            )
        )
        below = np.isfinite(v) & (v < floor)
        if below.any():
            fig.add_trace(
                go.Scatter(
                    x=t[below], y=np.full(below.sum(), floor), mode="markers",
                    showlegend=False, legendgroup=name,
                    marker=dict(symbol="x-thin", size=7, color=colour, line=dict(width=1.5, color=colour)),
                    hovertemplate=f"t=%{{x}}<br>{name} {FLOOR_TEXT}<extra></extra>",
                )
            )
            any_below = True
    if bound is not None:
        b = np.where(np.isfinite(bound) & (bound >= floor), bound, np.nan)
        fig.add_trace(
            go.Scatter(
                x=np.arange(b.size) if t is None else t, y=b, mode="lines",
                name="bound (γλ₁)^(T−1−t)",
                line=dict(color="#888888", width=4, dash="dash"),
                hovertemplate="t=%{x}<br>Pascanu bound = %{y:.3e}<extra></extra>",
            )
        )
    fig.update_yaxes(type="log", title_text=y_title, exponentformat="power")
    fig.update_xaxes(title_text=x_title)
    if any_below:
        fig.add_hline(y=floor, line=dict(color="#999999", width=1, dash="dot"))
        fig.add_trace(  # one legend entry explains the crosses of every line
            go.Scatter(x=[None], y=[None], mode="markers", name=FLOOR_TEXT,
                       marker=dict(symbol="x-thin", size=9, color="#777777",
                                   line=dict(width=2, color="#777777")))
        )
    fig = _layout(fig, title, height=500)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
                      margin=dict(b=140))
    return fig


def saturation_bars(saturation: dict, title: str) -> go.Figure:
    """Per gate, the fraction of (time, sequence, unit) entries saturated low and high.

    Args:
      saturation: gate name -> analysis.GateSaturation.
    """
    names = list(saturation)
    low = [saturation[n].left_overall for n in names]
    high = [saturation[n].right_overall for n in names]
    low_text = [f"< {saturation[n].thresholds[0]:g}" for n in names]
    high_text = [f"> {saturation[n].thresholds[1]:g}" for n in names]
    fig = go.Figure([
        go.Bar(x=names, y=low, name="saturated low (closed)", marker_color=LINE_COLOURS[0],
               customdata=low_text,
               hovertemplate="gate %{x}<br>fraction %{customdata}: %{y:.1%}<extra></extra>"),
        go.Bar(x=names, y=high, name="saturated high (open)", marker_color=LINE_COLOURS[1],
               customdata=high_text,
               hovertemplate="gate %{x}<br>fraction %{customdata}: %{y:.1%}<extra></extra>"),
    ])
    fig.update_traces(texttemplate="%{y:.1%}", textposition="outside")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="fraction of time", tickformat=".0%", range=[0, 1.1])
    fig.update_xaxes(title_text="gate")
    return _layout(fig, title, height=420)


def eigenvalue_plane(eigenvalues: dict, labels: dict, title: str) -> go.Figure:
    """Eigenvalues of each W_hh block in the complex plane, with the unit circle.

    Args:
      eigenvalues: block name -> (H,) complex array.
      labels: block name -> legend text (e.g. "W_hh", "W_hf").
    """
    x, y = circle(1.0)
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="lines", name="unit circle |λ| = 1",
        line=dict(color="#888888", dash="dash", width=2), hoverinfo="skip",
    ))
    for i, (block, eig) in enumerate(eigenvalues.items()):
        re, im = complex_xy(eig)
        fig.add_trace(go.Scatter(
            x=re, y=im, mode="markers",
            name=labels.get(block, block),
            marker=dict(size=9, color=LINE_COLOURS[i % len(LINE_COLOURS)], opacity=0.8),
            customdata=np.abs(eig).astype(np.float32),
            hovertemplate="Re λ = %{x:.3f}<br>Im λ = %{y:.3f}<br>|λ| = %{customdata:.3f}<extra></extra>",
        ))
    fig.update_xaxes(title_text="real part", zeroline=True)
    fig.update_yaxes(title_text="imaginary part", scaleanchor="x", scaleratio=1, zeroline=True)
    return _layout(fig, title, height=520)


def singular_value_band(steps, quantiles: np.ndarray, threshold: float | None, title: str) -> go.Figure:
    """Smallest, median and largest singular value of J_t against t, log axis.

    Args:
      quantiles: (3, n) smallest, median, largest.
      threshold: a horizontal line (1/γ) where a product of such steps stops shrinking.
    """
    lo, mid, hi = (np.asarray(q, np.float64) for q in quantiles)
    fig = go.Figure([
        go.Scatter(x=steps, y=hi, mode="lines", name="largest σ(J_t)",
                   line=dict(color=LINE_COLOURS[1], width=2),
                   hovertemplate="t=%{x}<br>largest singular value %{y:.3g}<extra></extra>"),
        go.Scatter(x=steps, y=mid, mode="lines", name="median σ(J_t)",
                   line=dict(color=LINE_COLOURS[0], width=3),
                   hovertemplate="t=%{x}<br>median singular value %{y:.3g}<extra></extra>"),
        go.Scatter(x=steps, y=np.maximum(lo, 1e-12), mode="lines", name="smallest σ(J_t) (≥ 1e-12)",
                   line=dict(color=LINE_COLOURS[2], width=2),
                   hovertemplate="t=%{x}<br>smallest singular value %{y:.3g}<extra></extra>"),
    ])
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color="#555555", dash="dash", width=2),
                      annotation_text="1 (= 1/γ)", annotation_position="top left")
    fig.update_yaxes(type="log", title_text="singular value of J_t", exponentformat="power")
    fig.update_xaxes(title_text="time step t")
    fig = _layout(fig, title)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
                      margin=dict(b=140))
    return fig


def connectivity_heatmap(steps, log10_map: np.ndarray, floor: float, title: str) -> go.Figure:
    """‖∂h_t/∂x_s‖ over output step t (rows) × input step s (columns), log10 colour.

    The upper triangle (s > t) is blank: an output cannot depend on a later input.
    """
    v = np.asarray(log10_map, np.float64)
    with np.errstate(invalid="ignore"):
        z = np.where(v < np.log10(floor), np.log10(floor), v).astype(np.float32)
    lo, hi = log10_range(z)
    fig = go.Figure(go.Heatmap(
        z=z, x=steps, y=steps, colorscale=MAGNITUDE_SCALE, zmin=lo, zmax=hi,
        colorbar=dict(title=dict(text="log10 ‖∂h_t/∂x_s‖", side="right")),
        hovertemplate="output step t=%{y}<br>input step s=%{x}<br>"
                      "log10 ‖∂h_t/∂x_s‖ = %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="input step s")
    fig.update_yaxes(title_text="output step t", autorange="reversed")
    return _layout(fig, title, height=600)


def loss_curves(runs: dict, baseline: float, baseline_label: str, title: str) -> go.Figure:
    """Training loss against step, one line per run, the no-memory baseline dashed.

    Args:
      runs: name -> (steps (N,), losses (N,), clipped (N,) bool); steps where clipping
        fired are marked with dots on the curve.
    """
    fig = go.Figure()
    for i, (name, (steps, losses, clipped)) in enumerate(runs.items()):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        losses = np.where(np.isfinite(losses), losses, np.nan)
        fig.add_trace(go.Scatter(
            x=steps, y=losses, mode="lines", name=name, line=dict(color=colour, width=2),
            legendgroup=name,
            hovertemplate=f"{name}<br>step %{{x}}<br>loss %{{y:.4g}}<extra></extra>",
        ))
        clipped = np.asarray(clipped, bool)
        if clipped.any():
            fig.add_trace(go.Scatter(
                x=np.asarray(steps)[clipped], y=losses[clipped], mode="markers",
                name=f"{name}: clipping fired", legendgroup=name,
                marker=dict(symbol="circle-open", size=7, color=colour),
                hovertemplate=f"{name}<br>step %{{x}}: gradient clipped<extra></extra>",
            ))
    fig.add_hline(y=baseline, line=dict(color="#555555", dash="dash", width=2),
                  annotation_text=f"no-memory baseline ({baseline_label})",
                  annotation_position="top right")
    fig.update_yaxes(type="log", title_text="training loss (log scale)", exponentformat="power")
    fig.update_xaxes(title_text="training step")
    fig = _layout(fig, title, height=480)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
                      margin=dict(b=130))
    return fig


def training_flow_map(
    snapshot_steps, profiles: np.ndarray, floor: float, title: str, zrange=None,
    show_scale: bool = True,
) -> go.Figure:
    """‖∂ℓ/∂h_t‖ over training step (rows) × time step t (columns), log10 colour.

    Args:
      zrange: (low, high) log10 colour range; share one between maps to compare them.
    """
    z = log10_clipped(profiles, floor)
    lo, hi = zrange if zrange is not None else log10_range(z)
    fig = go.Figure(go.Heatmap(
        z=z, x=np.arange(profiles.shape[1]), y=np.asarray(snapshot_steps),
        colorscale=MAGNITUDE_SCALE, zmin=lo, zmax=hi, showscale=show_scale,
        colorbar=dict(title=dict(text="log10 ‖∂ℓ/∂h_t‖", side="right")),
        hovertemplate="training step %{y}<br>time step t=%{x}<br>"
                      "log10 ‖∂ℓ/∂h_t‖ = %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="time step t")
    fig.update_yaxes(title_text="training step")
    return _layout(fig, title)
