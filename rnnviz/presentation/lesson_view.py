"""A lesson step's figures (the same figures its explorer page draws for the same settings),
its animations (Plotly frames: computed once, played in the browser with no rerun), and the
whole lesson as one self-contained HTML file. No Streamlit here: the Lesson page and the
tests call these."""
import html
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.offline

from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.engine.jacobians import block_label
from rnnviz.engine.tasks import TASKS
from rnnviz.experiments import architectures, lessons, seq2seq_lab, word_lab
from rnnviz.presentation import plots

PROFILE = "‖∂L/∂h_t‖"


def flow_figure(c, r) -> go.Figure:
    """Gradient flow's chart (pages/1_Gradient_flow.py draws the same)."""
    norms = {PROFILE: r.grad_norms}
    if r.cell_grad_norms is not None:
        norms["‖∂L/∂c_t‖ (cell state)"] = r.cell_grad_norms
    bound = r.bound if c.loss == "last" else None
    return plots.gradient_profile(
        norms, FLOOR, "Gradient norm per time step (log scale)", bound,
        styles={name: plots.cell_line(c.cell, dash=dash)
                for name, dash in zip(norms, ("solid", "dot"))})


def figures(step: lessons.Step, result) -> list[go.Figure]:
    """The step's figures, left to right: what its page draws for these settings."""
    c = step.settings()
    if step.page == "Gradient_flow":
        return [flow_figure(c, result)]
    if step.page == "Compare_cells":
        return [plots.gradient_profile(
            {CELL_LABELS[k]: r.grad_norms for k, r in result.items()}, FLOOR,
            "‖∂L/∂h_t‖ per time step (log scale)",
            styles={CELL_LABELS[k]: plots.cell_line(k) for k in result})]
    if step.page == "Why_it_vanishes":
        return [plots.eigenvalue_plane(
            result.spectrum.eigenvalues,
            {b: block_label(c.cell, b) for b in result.spectrum.eigenvalues},
            "Eigenvalues of W_hh in the complex plane", cell=c.cell)]
    if step.page == "Training_lab":
        config, _ = c
        first = next(iter(result.values()))
        return [plots.loss_curves(
            {CELL_LABELS[k]: (h.steps, h.losses, h.clipped) for k, h in result.items()},
            first.baseline, TASKS[config.task].baseline_label, "Training loss",
            styles={CELL_LABELS[k]: plots.cell_line(k) for k in result})]
    if step.page == "Deep_bidirectional":
        return [plots.depth_time_map([p.label for p in result.profiles], result.depth_map,
                                     FLOOR, result.read_steps,
                                     "‖∂L/∂h_t‖ by layer and time step")]
    if step.page == "Words":
        rows = {word_lab.verdict_label(v): plots.WordRow(result.reading.words, g,
                                                         result.reading.subject)
                for v, g in result.read.values()}
        return [plots.word_gradients(rows, FLOOR,
                                     "‖∂ℓ/∂e_s‖: the gradient of each model's loss at each word",
                                     verb=result.reading.verb)] if rows else []
    if step.page == "Architectures":
        y_title, x_title = (("decoder output j", "source input i")
                            if step.figure == "encoder_decoder" else ("output j", "input i"))
        return [plots.architecture_diagram(step.figure, ""),
                plots.architecture_map(getattr(result, step.figure), "",
                                       architectures.log10_range(result), y_title, x_title)]
    if step.page == "Encoder_decoder":
        zrange = architectures.log10_range(result.values())
        return [plots.architecture_map(m, seq2seq_lab.RUN_LABELS[name], zrange, "output j",
                                       "source input i") for name, m in result.items()]
    raise ValueError(step.page)


# --- Animations --------------------------------------------------------------------------

FRAME_MS = 120
CONTROLS_PX = 90  # under the plot: the play button and the frame slider
ANIMATED_HEIGHT = 540  # the plot a little lower than a page's 480, so that a step at
# 1280×720 in presenter mode shows it whole with its controls


def _controls(fig: go.Figure, names: list[str], labels: list[str]) -> None:
    """A play/pause button and a slider over the frames, under the plot."""
    slider_steps = [dict(method="animate", label=label,
                         args=[[name], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                            transition=dict(duration=0))])
                    for name, label in zip(names, labels)]
    fig.update_layout(
        height=ANIMATED_HEIGHT,
        margin=dict(b=fig.layout.margin.b + CONTROLS_PX),
        updatemenus=[dict(
            type="buttons", direction="down", x=-0.02, xanchor="left", y=-0.17, yanchor="top",
            pad=dict(t=10, r=10), font=dict(size=plots.FONT_SIZE),
            buttons=[dict(label="▶ Play", method="animate",
                          args=[None, dict(frame=dict(duration=FRAME_MS, redraw=True),
                                           fromcurrent=True, transition=dict(duration=0))]),
                     dict(label="❚❚ Pause", method="animate",
                          args=[[None], dict(mode="immediate",
                                             frame=dict(duration=0, redraw=False))])])],
        # the frame's title says where it is: no current-value label to crowd the buttons
        sliders=[dict(steps=slider_steps, active=len(names) - 1, x=0.2, len=0.8,
                      y=-0.17, yanchor="top", pad=dict(t=10),
                      font=dict(size=plots.FONT_SIZE), currentvalue=dict(visible=False))])


def walk_animation(c, r) -> go.Figure:
    """Gradient flow's chart, and frames that draw ‖∂L/∂h_t‖ from the loss's step back one
    step at a time: frame k shows the steps T−1−k … T−1, the product of k step Jacobians
    applied. The figure opens on the whole curve (the last frame)."""
    fig = flow_figure(c, r)
    norms = np.asarray(r.grad_norms, np.float64)
    T = norms.size
    shown = np.where(np.isfinite(norms) & (norms >= FLOOR), norms, np.nan)
    names, labels, frames = [], [], []
    for k in lessons.walk_steps(T):
        y = np.where(np.arange(T) >= T - 1 - k, shown, np.nan)
        value = norms[T - 1 - k]
        title = (f"{k} step{'s' if k != 1 else ''} back: ‖∂L/∂h_{T - 1 - k}‖ = "
                 + (f"{value:.1e}" if np.isfinite(value) else "inf/NaN"))
        names.append(str(k))
        labels.append(str(k))
        frames.append(go.Frame(name=str(k), data=[dict(y=y)], traces=[0],
                               layout=dict(title=dict(text=title))))
    fig.frames = frames
    _controls(fig, names, labels)
    return fig


def sweep_animation(c, r, runs: list) -> go.Figure:
    """Gradient flow's chart at the step's own gain, and one frame per gain of the sweep
    (`runs`: (gain, FlowResult) in order): the profile and its bound at that gain, the
    title read from the frame's own curve. The y axis spans every frame."""
    fig = flow_figure(c, r)
    names = [t.name for t in fig.data]
    bound_index = next((i for i, n in enumerate(names) if n and n.startswith("bound")), None)
    every = []
    frames, labels = [], []
    for gain, run in runs:
        norms = np.asarray(run.grad_norms, np.float64)
        y = np.where(np.isfinite(norms) & (norms >= FLOOR), norms, np.nan)
        every.append(y)
        data, traces = [dict(y=y)], [0]
        if bound_index is not None and run.bound is not None:
            b = np.where(np.isfinite(run.bound) & (run.bound >= FLOOR), run.bound, np.nan)
            data.append(dict(y=b))
            traces.append(bound_index)
            every.append(b)
        start = norms[0]
        title = (f"gain {gain:.2f}: the gradient reaching step 0 is "
                 + (f"{start:.1e}" if np.isfinite(start) else "inf/NaN"))
        frames.append(go.Frame(name=f"{gain:.2f}", data=data, traces=traces,
                               layout=dict(title=dict(text=title))))
        labels.append(f"{gain:.2f}")
    yaxis = {}
    plots._decade_axis(yaxis, np.concatenate(every))
    fig.update_layout(yaxis=yaxis)
    fig.frames = frames
    _controls(fig, [f.name for f in frames], labels)
    # open on the frame of the step's own gain (the chart as its page draws it)
    mine = min(range(len(runs)), key=lambda i: abs(runs[i][0] - c.gain))
    fig.layout.sliders[0].active = mine
    return fig


class Rendered(NamedTuple):
    """A step ready to show: its result, the facts read from it, its figures."""

    result: object
    facts: dict
    figures: list

    def narration(self, step: lessons.Step) -> str:
        return lessons.fill(step.narration, self.facts)

    def answer(self, step: lessons.Step) -> str:
        return lessons.fill(step.answer, self.facts)


def render(step: lessons.Step, result) -> Rendered:
    """The step's facts and figures, its animation in place of the first figure."""
    figs = figures(step, result)
    c = step.settings()
    if step.animate == "walk":
        figs[0] = walk_animation(c, result)
    elif step.animate == "sweep_gain":
        figs[0] = sweep_animation(c, result, lessons.sweep_runs(step))
    return Rendered(result, lessons.facts(step, result), figs)


# --- The lesson as one file --------------------------------------------------------------

_PAGE_CSS = """
body { font-family: system-ui, sans-serif; color: #1a1a1a; max-width: 1100px; margin: 2rem auto;
       padding: 0 1rem; font-size: 19px; line-height: 1.5; }
h1 { font-size: 2rem; } h2 { font-size: 1.5rem; margin-top: 3rem; border-top: 2px solid #ccc;
padding-top: 1.5rem; }
.question { background: #eef5fb; padding: 0.8rem 1rem; border-left: 5px solid #0072B2; }
details { margin: 0.8rem 0; } summary { cursor: pointer; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; } .figures > div { flex: 1 1 480px; }
.note { color: #555; font-size: 16px; }
"""


def lesson_html(lesson: lessons.Lesson, rendered: list) -> str:
    """One HTML file: the lesson's narration, questions, answers (folded) and every figure
    as interactive Plotly with plotly.js embedded once, animations included; it needs no
    network. `rendered`: per step a Rendered, or None for a step not computed (a training
    step nobody ran)."""
    e = html.escape
    parts = [f"<h1>{e(lesson.title)}</h1>", f"<p>{e(lesson.summary)}</p>"]
    for n, (step, done) in enumerate(zip(lesson.steps, rendered), start=1):
        parts.append(f'<h2 id="step-{n}">{n}. {e(step.title)}</h2>')
        if done is None:
            parts.append('<p class="note">This step trains a network; it was not run before '
                         'the download. Open it in rnnviz to see it.</p>')
            continue
        narration, answer, figs = done.narration(step), done.answer(step), done.figures
        parts.append(f"<p>{e(narration)}</p>")
        charts = "".join(
            "<div>" + f.to_html(full_html=False, include_plotlyjs=False,
                                 config={"displaylogo": False}) + "</div>" for f in figs)
        parts.append(f'<div class="figures">{charts}</div>')
        parts.append(f'<p class="question"><b>Question.</b> {e(step.question)}</p>')
        parts.append(f"<details><summary>Show the answer</summary><p>{e(answer)}</p></details>")
    parts.append('<p class="note">Made with rnnviz: every number was computed, with JAX, '
                 'from the figure beside it.</p>')
    script = plotly.offline.get_plotlyjs()
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(lesson.title)}</title><style>{_PAGE_CSS}</style>"
            f"<script type=\"text/javascript\">{script}</script></head><body>"
            + "\n".join(parts) + "</body></html>\n")
