"""How long each figure of rnnviz/presentation/plots.py takes to build, on the app's default inputs.

Usage:
  python scripts/bench_figures.py                          # rnnviz/presentation/plots.py
  git show HEAD:rnnviz/presentation/plots.py > /tmp/plots_old.py        # e.g. the last committed one
  python scripts/bench_figures.py --module /tmp/plots_old.py --module rnnviz/presentation/plots.py
  python scripts/bench_figures.py --runs 50 --only gradient_profile,blank

Each --module is a plots.py loaded from its path (default: the package's own), one column of
the table each; every builder is timed on the same inputs, median of --runs calls after one
warm-up call. The inputs are the pages' defaults (one_layer.FlowConfig() of the RNN, LSTM and
GRU, deep_exp.DeepConfig() and its two-sided connectivity pair), computed with JAX first.
The Training lab's curves are synthetic (a 700-step run of three cells, as the lab's default
compare run): training takes minutes. The machine is shared and noisy: compare the columns
of one run, not runs.
"""
import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_plots(path: str):
    """A plots.py loaded from `path` as a module of its own name."""
    path = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"bench_plots_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compute_inputs() -> dict:
    """The results behind the pages' default figures (JAX: tens of seconds on 2 cores)."""
    from rnnviz.engine.jacobians import gate_saturation
    from rnnviz.experiments import deep as deep_exp
    from rnnviz.experiments import one_layer

    rnn, lstm = one_layer.FlowConfig(), one_layer.FlowConfig(cell="lstm")
    deep = deep_exp.DeepConfig()
    gates = one_layer.gate_activity(lstm)
    return dict(
        flow={"rnn": one_layer.gradient_flow(rnn), "lstm": one_layer.gradient_flow(lstm),
              "gru": one_layer.gradient_flow(one_layer.FlowConfig(cell="gru"))},
        gates=gates,
        saturation_after=gate_saturation({k: v[:, None] * 0.9 for k, v in gates.gates.items()}),
        jacobian=one_layer.jacobian_analysis(rnn),
        connectivity=one_layer.connectivity_map(rnn),
        deep=deep_exp.deep_flow(deep),
        pair=deep_exp.two_sided(deep),
    )


def training_runs(rng) -> tuple[dict, dict]:
    """Loss curves and gradient-profile snapshots as the Training lab's default compare
    run draws them (700 steps, rnn, lstm and gru, a snapshot every 50 steps, T = 100)."""
    steps = np.arange(1, 701)
    runs, maps = {}, {}
    for k, (name, end) in enumerate((("RNN", 0.15), ("LSTM", 1.8e-3), ("GRU", 2.4e-4))):
        loss = end + 0.3 * np.exp(-steps / (100 * (k + 1))) * 10 ** (0.1 * rng.normal(size=700))
        runs[name] = (steps, loss, rng.random(700) < 0.05)
        snapshots = np.arange(0, 701, 50)
        decay = 0.9 ** (np.arange(100)[::-1] / (1 + k))
        maps[name] = (snapshots, decay[None, :] * (1 + rng.random((snapshots.size, 100))))
    return runs, maps


def builders(plots, x: dict) -> dict:
    """name -> a call of one public builder, as the pages call it."""
    from rnnviz.engine.bptt import FLOOR
    from rnnviz.engine.cells import CELL_LABELS
    from rnnviz.engine.jacobians import TANH_GATES

    rnn, lstm = x["flow"]["rnn"], x["flow"]["lstm"]
    fwd, g, j, c, deep = lstm.forward, x["gates"], x["jacobian"], x["connectivity"], x["deep"]
    runs, snapshots = training_runs(np.random.default_rng(0))
    labels = [p.label for p in deep.profiles]
    floor = -6.0
    return {
        "blank": lambda: plots.blank(),
        "gradient_profile (flow)": lambda: plots.gradient_profile(
            {"‖∂L/∂h_t‖": rnn.grad_norms}, FLOOR, "Gradient norm per time step (log scale)",
            rnn.bound, styles={"‖∂L/∂h_t‖": plots.cell_line("rnn")}),
        "gradient_profile (3 cells)": lambda: plots.gradient_profile(
            {CELL_LABELS[k]: r.grad_norms for k, r in x["flow"].items()}, FLOOR,
            "‖∂L/∂h_t‖ per time step (log scale)",
            styles={CELL_LABELS[k]: plots.cell_line(k) for k in x["flow"]}),
        "gradient_profile (deep)": lambda: plots.gradient_profile(
            {p.label: p.norms for p in deep.profiles}, FLOOR, "‖∂L/∂h_t‖ per layer (log scale)",
            styles=plots.layer_lines("lstm", labels)),
        "profile_overlay": lambda: plots.profile_overlay(
            [(f"gain {v}", r.grad_norms) for v, r in zip((0.9, 1.0, 1.1), x["flow"].values())],
            FLOOR, "‖∂L/∂h_t‖ for each value (log scale)"),
        "gradient_heatmap": lambda: plots.gradient_heatmap(
            rnn.grad_map, FLOOR, "|∂L/∂h_t| per hidden unit (log colour)"),
        "gradient_heatmap_row": lambda: plots.gradient_heatmap_row(
            {CELL_LABELS[k]: r.grad_map for k, r in x["flow"].items()}, FLOOR,
            "|∂L/∂h_t| per hidden unit (log colour)"),
        "forward_panel (lstm)": lambda: plots.forward_panel(
            fwd.state_norms, fwd.per_step, "fraction saturated", {"h_t overflows at t = 60": 60},
            "‖h_t‖ and the gates' saturated fraction per step", cell="lstm"),
        "forward_panel (rnn)": lambda: plots.forward_panel(
            rnn.forward.state_norms, rnn.forward.per_step, "mean tanh′(a_t)", {},
            "‖h_t‖ and the mean slope tanh′ per step", cell="rnn"),
        "saturation_bars": lambda: plots.saturation_bars(g.saturation, "Saturated fraction"),
        "time_unit_heatmap": lambda: plots.time_unit_heatmap(
            np.maximum(g.horizon.log10_product, floor), "Running product of forget gates ∏f",
            "∏ f", floor, 0.0, log10=True),
        "time_unit_heatmap (h)": lambda: plots.time_unit_heatmap(
            g.h, "h_t, hidden state", "h_t", -1.0, 1.0, colorscale="RdBu"),
        "gate_maps": lambda: plots.gate_maps(g.gates, {k: f"gate {k}" for k in g.gates},
                                             TANH_GATES),
        "eigenvalue_plane": lambda: plots.eigenvalue_plane(
            j.spectrum.eigenvalues, {b: b for b in j.spectrum.eigenvalues},
            "Eigenvalues of W_hh in the complex plane", cell="rnn"),
        "singular_value_band": lambda: plots.singular_value_band(
            j.steps, j.svals, 1.0, "Singular values of J_t over time", cell="rnn"),
        "connectivity_heatmap": lambda: plots.connectivity_heatmap(
            c.steps, c.log10_map, FLOOR, "‖∂h_t/∂x_s‖ (log colour)"),
        "loss_curves": lambda: plots.loss_curves(
            runs, 1 / 6, "1/6", "Training loss",
            styles={k: plots.cell_line(k.lower()) for k in runs}),
        "training_flow_maps": lambda: plots.training_flow_maps(
            snapshots, FLOOR, "‖∂ℓ/∂h_t‖ during training (log colour)"),
        "depth_time_map": lambda: plots.depth_time_map(
            labels, deep.depth_map, FLOOR, deep.read_steps, "‖∂L/∂h_t‖ by layer and time step"),
        "connectivity_pair": lambda: plots.connectivity_pair(
            x["pair"].steps, {"bidirectional": x["pair"].bidirectional,
                              "one direction": x["pair"].unidirectional},
            FLOOR, "‖∂y_t/∂x_s‖ of the top output"),
    }


def median_ms(call, runs: int) -> float:
    call()  # warm-up: first-call caches, imports
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", action="append",
                        help="a plots.py to time (repeatable); default rnnviz/presentation/plots.py")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated builder names")
    args = parser.parse_args()
    paths = args.module or [str(ROOT / "rnnviz" / "presentation" / "plots.py")]
    inputs = compute_inputs()
    modules = [load_plots(p) for p in paths]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    names = [n for n in builders(modules[0], inputs) if not only or n.split(" (")[0] in only
             or n in only]
    table = {n: [] for n in names}
    for module in modules:
        calls = builders(module, inputs)
        for n in names:
            table[n].append(median_ms(calls[n], args.runs))
    width = max(len(n) for n in names)
    heads = [Path(p).name if len(set(Path(q).name for q in paths)) == len(paths) else p
             for p in paths]
    print(f"median of {args.runs} builds, ms; {len(modules)} module(s): "
          + ", ".join(str(Path(p)) for p in paths))
    print(f"{'builder':<{width}}  " + "  ".join(f"{h:>14}" for h in heads)
          + ("  ratio" if len(modules) == 2 else ""))
    for n in names:
        row = table[n]
        ratio = f"  {row[0] / row[1]:5.1f}x" if len(row) == 2 else ""
        print(f"{n:<{width}}  " + "  ".join(f"{v:14.2f}" for v in row) + ratio)
    totals = [sum(table[n][k] for n in names) for k in range(len(modules))]
    ratio = f"  {totals[0] / totals[1]:5.1f}x" if len(totals) == 2 else ""
    print(f"{'total':<{width}}  " + "  ".join(f"{v:14.2f}" for v in totals) + ratio)


if __name__ == "__main__":
    main()
