"""Figures: numpy arrays in, Plotly figures out. Sized and coloured for a projector."""
import numpy as np
import plotly.graph_objects as go

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
    grad_map: np.ndarray, floor: float, title: str, quantity="∂L/∂h_t", zmax=None,
    show_scale: bool = True,
) -> go.Figure:
    """Heatmap of |∂L/∂h_t| over time step × hidden unit, log10 colour scale.

    Args:
      grad_map: (T, H) magnitudes.
      zmax: top of the colour scale (log10); give several maps the same one to compare them.
    """
    z = log10_clipped(grad_map, floor)
    lo = float(np.log10(floor))
    finite = z[np.isfinite(z)]
    hi = zmax if zmax is not None else (float(finite.max()) if finite.size else 0.0)
    return time_unit_heatmap(z, title, f"log10 |{quantity}|", lo, max(hi, lo + 1),
                             show_scale=show_scale)


def gradient_profile(
    norms: dict[str, np.ndarray],
    floor: float,
    title: str,
    bound: np.ndarray | None = None,
    y_title: str = "‖∂L/∂h_t‖ (log scale)",
) -> go.Figure:
    """Norms against t on a log axis; values below `floor` drawn on the floor as crosses.

    Args:
      norms: name -> (T,) array; one line each.
      bound: optional (T,) upper bound, drawn dashed (Pascanu et al. 2013).
    """
    fig = go.Figure()
    any_below = False
    for i, (name, values) in enumerate(norms.items()):
        v = np.asarray(values, np.float64)
        t = np.arange(v.size)
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
                x=np.arange(b.size), y=b, mode="lines", name="bound (γλ₁)^(T−1−t)",
                line=dict(color="#888888", width=4, dash="dash"),
                hovertemplate="t=%{x}<br>Pascanu bound = %{y:.3e}<extra></extra>",
            )
        )
    fig.update_yaxes(type="log", title_text=y_title, exponentformat="power")
    fig.update_xaxes(title_text="time step t")
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
