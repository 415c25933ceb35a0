"""Theory: why gradients through time vanish or explode, and what helps; each point links to
the page and settings that show it."""
import math

import streamlit as st

from rnnviz.experiments import model_files
from rnnviz.experiments.presets import DEEP, PRESETS
from rnnviz.presentation import ui

FLOW = "pages/1_Gradient_flow.py"
COMPARE = "pages/2_Compare_cells.py"
HOME = "app.py"

# (anchor, header), in reading order; the table of contents is drawn from this.
SECTIONS = (
    ("cells", "1. The cells: RNN, LSTM, GRU"),
    ("bptt", "2. Backpropagation through time"),
    ("vanishing", "3. Why products of Jacobians vanish or explode"),
    ("gates", "4. How gates help"),
    ("init", "5. How initialisation helps"),
    ("clipping", "6. Gradient clipping"),
    ("deep", "7. Deep and bidirectional networks"),
    ("upload", "8. Your own model"),
    ("reading", "9. Further reading"),
)

# Every link on this page: section anchor -> (page, label, URL parameters). The parameters
# are those of the gradient-flow pages (rnnviz.experiments.one_layer.FIELDS); unset ones take their
# defaults (T = 100, H = 32, seed 0, noise inputs, loss on the last step). Several equal a
# preset's settings exactly, so the target page shows that preset's narration too.
LINKS = {
    "cells": [
        (FLOW, "Vanilla RNN (tanh) on the Gradient flow page", {"cell": "rnn"}),
        (FLOW, "LSTM on the Gradient flow page", {"cell": "lstm"}),
        (FLOW, "GRU on the Gradient flow page", {"cell": "gru"}),
    ],
    "bptt": [
        (FLOW, "Loss on the last step: one product of Jacobians per step",
         {"cell": "rnn", "loss": "last"}),
        (FLOW, "Loss on every step: a sum of such products", {"cell": "rnn", "loss": "all"}),
    ],
    "vanishing": [
        (FLOW, "Exact: W_hh = 0.9·Q, zero inputs, gradient × 0.9 per step",
         {"cell": "rnn", "init": "orthogonal", "gain": "0.9", "T": "200", "inputs": "zeros"}),
        (FLOW, "Vanishing: W_hh = 0.9·Q with noise inputs (tanh′ < 1 on top)",
         {"cell": "rnn", "init": "orthogonal", "gain": "0.9", "T": "200", "inputs": "noise"}),
        (FLOW, "Exploding: W_hh = 1.1·Q, zero inputs, gradient × 1.1 per step",
         {"cell": "rnn", "init": "orthogonal", "gain": "1.1", "T": "300", "inputs": "zeros"}),
        (FLOW, "λ₁ = 1 is not enough: W_hh = Q with noise inputs still vanishes",
         {"cell": "rnn", "init": "orthogonal", "gain": "1.0", "T": "300", "inputs": "noise"}),
    ],
    "gates": [
        (FLOW, "Exact: LSTM, W_hh = 0, zero inputs, b_f = 1: the ∂L/∂c_t curve falls "
               "× σ(1) ≈ 0.73 per step",
         {"cell": "lstm", "init": "orthogonal", "gain": "0.0", "inputs": "zeros",
          "forget_bias": "1.0", "T": "100"}),
        (FLOW, "LSTM, forget bias 0",
         {"cell": "lstm", "init": "orthogonal", "forget_bias": "0.0", "T": "300"}),
        (FLOW, "LSTM, forget bias 1",
         {"cell": "lstm", "init": "orthogonal", "forget_bias": "1.0", "T": "300"}),
        (FLOW, "LSTM, chrono initialisation with T_max = 1000",
         {"cell": "lstm", "init": "orthogonal", "chrono": "1000", "T": "1000"}),
        (FLOW, "Exact: GRU, W_hh = 0, zero inputs, b_z = 2: × σ(2) ≈ 0.88 per step",
         {"cell": "gru", "init": "orthogonal", "gain": "0.0", "inputs": "zeros",
          "update_bias": "2.0", "T": "100"}),
        (FLOW, "GRU, update-gate bias 3",
         {"cell": "gru", "init": "orthogonal", "update_bias": "3.0", "T": "300"}),
        (COMPARE, "Compare cells: RNN, LSTM and GRU at T = 500",
         {"init": "orthogonal", "T": "500", "forget_bias": "1.0", "update_bias": "1.0"}),
    ],
    "init": [
        (FLOW, "PyTorch's default U(±1/√H)", {"cell": "rnn", "init": "pytorch", "T": "200"}),
        (FLOW, "Exact: orthogonal, gain 1, zero inputs: the gradient keeps its norm",
         {"cell": "rnn", "init": "orthogonal", "gain": "1.0", "T": "300", "inputs": "zeros"}),
        (FLOW, "IRNN: relu with W_hh = I",
         {"cell": "rnn_relu", "init": "identity", "gain": "1.0", "T": "300", "inputs": "sine"}),
        (FLOW, "Scaled identity 0.01·I forgets",
         {"cell": "rnn_relu", "init": "identity", "gain": "0.01", "T": "100", "inputs": "sine"}),
        (FLOW, "He normal rescaled to |eigenvalue| ≤ 0.95: λ₁ stays ≈ 1.7, slow decay",
         {"cell": "rnn", "init": "he", "radius": "0.95", "radius_kind": "eigen",
          "inputs": "zeros", "T": "200"}),
        (FLOW, "He normal rescaled to λ₁ = 0.95: every step shrinks, fast decay",
         {"cell": "rnn", "init": "he", "radius": "0.95", "radius_kind": "singular",
          "inputs": "zeros", "T": "200"}),
    ],
    "clipping": [
        (FLOW, "The gradient that clipping is for: W_hh = 1.1·Q, zero inputs",
         {"cell": "rnn", "init": "orthogonal", "gain": "1.1", "T": "300", "inputs": "zeros"}),
        (FLOW, "A relu RNN whose state overflows: W_hh = 1.3·I",
         {"cell": "rnn_relu", "init": "identity", "gain": "1.3", "T": "400", "inputs": "noise"}),
    ],
    # The deep page's presets, as they are (their narration then says what the map shows),
    # and the loss on every step. Parameters of the deep page: rnnviz.experiments.deep.FIELDS.
    "deep": [(DEEP, p.name, p.query) for p in PRESETS if p.page == DEEP] + [
        (DEEP, "Two bidirectional LSTM layers, the loss on every step (summed)",
         {"cell": "lstm", "layers": "2", "bidirectional": "true", "read": "all"}),
    ],
    # An upload cannot travel in a link: these open the pages that show it.
    "upload": [
        (FLOW, "Gradient flow: one layer and direction of your model, its headline and "
               "profile", {}),
        (DEEP, "Deep & bidirectional: every layer and direction of your model on one map", {}),
    ],
    "reading": [
        (HOME, "Home: every classroom scenario, with what to say about it", {}),
    ],
}


def show_links(section: str) -> None:
    st.caption("See it:")
    for page, label, query in LINKS[section]:
        st.page_link(page, label=label, query_params=query or None,
                     icon=":material/play_circle:")


def header(section: str) -> None:
    st.header(dict(SECTIONS)[section], anchor=section, divider="gray")


menu = ui.page_frame("Theory: why gradients vanish, and what helps", ":material/menu_book:")
ui.menu(menu)

st.markdown(
    "A short guided read of what a course on recurrent networks covers, in the order a "
    "lecture takes it. Each section ends with links that open a page of rnnviz with the "
    "settings that show the point.\n\n"
    + "\n".join(f"{i}. [{title.split('. ', 1)[1]}](#{anchor})"
                for i, (anchor, title) in enumerate(SECTIONS, 1))
)

# --- 1 -------------------------------------------------------------------------------------
header("cells")
st.markdown(
    r"Each cell reads the input $x_t$ and the previous state and writes the new state. "
    "rnnviz uses PyTorch's equations and weight layout (`nn.RNN`, `nn.LSTM`, `nn.GRU`), "
    r"so trained weights carry over unchanged. $\sigma$ is the logistic sigmoid, $\odot$ the "
    "elementwise product."
)
st.markdown("**Vanilla (Elman) RNN**, with tanh, or relu in the IRNN of section 5:")
st.latex(ui.CELL_EQUATIONS["rnn"])
st.markdown("**LSTM** (Hochreiter & Schmidhuber 1997, with the forget gate $f$ of "
            "Gers et al. 2000); gate order i, f, g, o; $c_t$ is the cell state:")
st.latex(ui.CELL_EQUATIONS["lstm"])
st.markdown(
    "**GRU**, in the **reset-after** form of PyTorch (and of Keras with `reset_after=True`, "
    r"the TensorFlow 2 default): $r_t$ multiplies $W_{hn} h_{t-1} + b_{hn}$ *after* the "
    "product. Gate order r, z, n."
)
st.latex(ui.CELL_EQUATIONS["gru"])
st.markdown("Cho et al. 2014 (and Keras with `reset_after=False`) apply $r_t$ *before* the "
            "product: a different model, whose weights do not carry over.")
st.latex(r"n_t = \tanh(W_{in} x_t + W_{hn}(r_t \odot h_{t-1}) + b_n)")
show_links("cells")

# --- 2 -------------------------------------------------------------------------------------
header("bptt")
st.markdown(
    "Unrolled over $T$ steps, a recurrent net is a $T$-layer network with the same weights "
    r"in every layer. A loss $L = \sum_s \ell_s(h_s)$ depends on $h_t$ directly and through "
    "every later state, so the **total derivative** is a sum, over the losses at "
    r"$s \ge t$, of products of step Jacobians (gradients are row vectors; for $s = t$ the "
    "product is empty, i.e. $I$):"
)
st.latex(
    r"\frac{\partial L}{\partial h_t} = \sum_{s \ge t} \frac{\partial \ell_s}{\partial h_s}\,"
    r"J_s J_{s-1} \cdots J_{t+1}, \qquad J_k = \frac{\partial h_k}{\partial h_{k-1}}"
)
st.markdown("Computed backwards it is one recursion, so one reverse pass yields every $t$. "
            "The weight gradient sums the contributions of all steps (vanilla RNN):")
st.latex(
    r"\delta_T = \frac{\partial \ell_T}{\partial h_T},\quad "
    r"\delta_t = \frac{\partial \ell_t}{\partial h_t} + \delta_{t+1} J_{t+1};\qquad "
    r"\frac{\partial L}{\partial W_{hh}} = \sum_{t} "
    r"\big(\mathrm{act}'(a_t) \odot \delta_t^{\top}\big)\, h_{t-1}^{\top}"
)
st.markdown(
    r"A step whose $\delta_t$ has vanished adds nothing to $\partial L/\partial W_{hh}$: the "
    "weights learn only from the steps that the gradient still reaches. For the LSTM the "
    "state is the pair $(h_t, c_t)$ and $J_k$ is the Jacobian of the pair."
)
st.markdown(
    r"**How rnnviz measures $\partial L/\partial h_t$.** Inside the `lax.scan` it adds a "
    r"zero perturbation $\varepsilon_t$ to every new state (and to $c_t$ for the LSTM). With "
    r"$\varepsilon = 0$ the forward pass is unchanged; since $\varepsilon_t$ enters exactly "
    r"where $h_t$ does, the gradient with respect to $\varepsilon_t$ is the total "
    r"derivative. `jax.grad` with respect to the stacked $\varepsilon$ gives all $T$ of them "
    "in **one** reverse pass; one `jax.grad` per step would cost $T$ passes."
)
st.latex(
    r"h_t = \mathrm{cell}(h_{t-1}, x_t) + \varepsilon_t, \qquad "
    r"\frac{\partial L}{\partial \varepsilon_t}\Big|_{\varepsilon = 0} "
    r"= \frac{\partial L}{\partial h_t}"
)
st.markdown(
    "**The PyTorch trap.** `out, _ = lstm(x); out.retain_grad(); loss.backward()` gives "
    "`out.grad[t] = 0` for every $t < T$ when the loss reads only the last step. `nn.LSTM` "
    "runs the recurrence inside one fused operation that passes $h_t$ to the next step "
    "internally; `out` is that operation's output and feeds only the loss. So `out.grad` "
    r"holds the direct term $\partial \ell_t/\partial h_t$ alone, never what flows back "
    "through later steps. The total derivative needs a Python loop over `nn.LSTMCell` with "
    r"`h_t.retain_grad()` (much slower), or the $\varepsilon$ trick above."
)
show_links("bptt")

# --- 3 -------------------------------------------------------------------------------------
header("vanishing")
st.markdown(
    r"For a vanilla RNN, $h_t = \mathrm{act}(a_t)$ with "
    r"$a_t = W_{ih} x_t + b + W_{hh} h_{t-1}$. With the loss on the last step, the gradient "
    "at step $t$ is a product of $T - t$ step Jacobians:"
)
st.latex(ui.BPTT_EQUATION)
st.markdown(
    r"Let $\gamma$ bound $|\mathrm{act}'|$ (1 for tanh and relu, 1/4 for the sigmoid) and "
    r"$\lambda_1$ be the largest singular value of $W_{hh}$ (its spectral norm). Then "
    r"$\|J_t\| \le \gamma\lambda_1$ at every step, and (Pascanu, Mikolov & Bengio 2013):"
)
st.latex(
    r"\Big\| \frac{\partial h_T}{\partial h_k} \Big\| \le \prod_{t=k+1}^{T} \|J_t\| "
    r"\le (\gamma \lambda_1)^{T-k}"
)
st.markdown(
    r"- $\lambda_1 < 1/\gamma$ is **sufficient** for the gradient to vanish, exponentially "
    "in $T - k$.\n"
    r"- $\lambda_1 > 1/\gamma$ is **necessary** for it to explode, not sufficient: units in "
    r"tanh's flat tails ($\mathrm{act}' \ll 1$) can still make it vanish." "\n"
    r"- Linear case ($\mathrm{act}$ = identity): spectral radius $\rho(W_{hh}) < 1$ suffices "
    r"for vanishing, $\rho > 1$ is necessary for explosion."
)
st.markdown(
    "**One case is exact.** A tanh RNN with zero inputs, zero biases and $h_0 = 0$ stays at "
    r"$h_t = 0$, where $\tanh' = 1$. With $W_{hh} = \rho Q$, $Q$ orthogonal, every singular "
    r"value of $(\rho Q)^k$ is $\rho^k$:"
)
st.latex(
    r"\frac{\partial h_T}{\partial h_t} = (\rho Q)^{T-t}, \qquad "
    r"\Big\| \frac{\partial h_T}{\partial h_t} \Big\|_2 = \rho^{T-t}"
)
st.markdown(
    r"The gradient changes by exactly $\rho$ per step: 10× every $1/|\log_{10}\rho|$ steps, "
    r"21.9 steps for $\rho = 0.9$ and 24.2 for $\rho = 1.1$. With inputs, $\tanh' < 1$ "
    r"multiplies in as well and the gradient vanishes faster, even at $\rho = 1$. (The "
    r"Gradient flow page numbers steps $0 \ldots T-1$, so its dashed bound reads "
    r"$(\gamma\lambda_1)^{T-1-t}$.)"
)
show_links("vanishing")

# --- 4 -------------------------------------------------------------------------------------
header("gates")
st.markdown(
    r"The LSTM updates its cell state by **addition**, $c_t = f_t \odot c_{t-1} + i_t \odot "
    r"g_t$. Along that path the step Jacobian is the forget gate alone, with no $W_{hh}$ and "
    r"no $\tanh'$ in it (the other paths run through $h$ and $W_{hh}$):"
)
st.latex(
    r"\frac{\partial c_T}{\partial c_t}\Big|_{\text{cell path}} "
    r"= \prod_{k=t+1}^{T} \mathrm{diag}(f_k), \qquad "
    r"\text{all weights } 0:\ \frac{\partial c_T}{\partial c_t} = \sigma(b_f)^{T-t}\, I"
)
st.markdown(
    r"With $f \approx 1$ the gradient passes unchanged: the *constant error carousel* of "
    "Hochreiter & Schmidhuber 1997, whose LSTM had no forget gate ($f = 1$). With all "
    "weights zero the gates are constant and the right-hand formula is exact. The forget "
    "bias sets how far back the cell path reaches:"
)
# Computed, not typed: with constant f the cell path loses log10(1/f) decades per step.
st.markdown(
    r"| $b_f$ | $f = \sigma(b_f)$ | steps back per 10× drop |" "\n"
    "|---:|---:|---:|\n"
    + "\n".join(f"| {b} | {1 / (1 + math.exp(-b)):.3g} | "
                f"{1 / math.log10(1 + math.exp(-b)):.3g} |" for b in (0, 1, 3, 5))
)
st.markdown(
    "- **Forget bias 1** (Gers et al. 2000; Jozefowicz, Zaremba & Sutskever 2015, who found "
    "it closes the gap between the LSTM and the GRU) is Keras's default "
    "(`unit_forget_bias=True`); PyTorch's default biases are small, around 0.\n"
    "- **Chrono initialisation** (Tallec & Ollivier 2018) sets the time scales directly. "
    r"A unit with constant $f = \sigma(b)$ forgets with time constant $1/(1 - f) = 1 + e^b$, "
    r"so the rule below spreads the units' time constants uniformly over $[2, T_{\max}]$, "
    r"where $T_{\max}$ is the longest dependency expected:"
)
st.latex(r"b_f \sim \log\, \mathcal{U}[1,\ T_{\max} - 1], \qquad b_i = -b_f")
st.markdown(
    "The **GRU** interpolates between the old state and the candidate, "
    r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$, so $\mathrm{diag}(z_t)$ is a direct "
    r"path; $z \approx 1$ copies $h$ forward. With all weights zero:"
)
st.latex(
    r"\frac{\partial h_t}{\partial h_{t-1}} = \mathrm{diag}(z_t) + "
    r"(\text{terms through } W_{h\cdot}), \qquad "
    r"\text{all weights } 0:\ \frac{\partial h_T}{\partial h_t} = \sigma(b_z)^{T-t}\, I"
)
show_links("gates")

# --- 5 -------------------------------------------------------------------------------------
header("init")
st.markdown(
    r"Before any training, the initial $W_{hh}$ sets $\lambda_1$ and $\rho$. For a random "
    r"$H \times H$ matrix with independent entries of variance $s^2$, the eigenvalues fill a "
    r"disc of radius about $s\sqrt{H}$ and $\lambda_1 \approx 2s\sqrt{H}$ (large $H$; at "
    "$H = 32$ within about 10%):"
)
st.markdown(
    r"| $W_{hh}$ drawn from | entry variance | $\rho$ (largest \|eigenvalue\|) | $\lambda_1$ |"
    "\n|---|---:|---:|---:|\n"
    r"| PyTorch default $\mathcal{U}(\pm 1/\sqrt{H})$ | $1/(3H)$ | ≈ 0.58 | ≈ 1.15 |" "\n"
    "| Glorot uniform (Glorot & Bengio 2010) | $1/H$ | ≈ 1 | ≈ 2 |\n"
    "| He normal (He et al. 2015) | $2/H$ | ≈ 1.41 | ≈ 2.83 |\n"
    "| Orthogonal × gain | — | gain | gain |\n"
    "| Identity × gain | — | gain | gain |"
)
st.markdown(
    "- **Orthogonal** (Saxe, McClelland & Ganguli 2013): every singular value is 1, so "
    r"$W_{hh}$ keeps the length of every vector and $\rho = \lambda_1 =$ gain. At gain 1, "
    "only the activation can shrink the gradient.\n"
    r"- **Identity, IRNN** (Le, Jaitly & Hinton 2015): relu, $W_{hh} = I$, biases 0. Then "
    r"$J_t = \mathrm{diag}(\mathbb{1}[a_t > 0])$: the gradient passes unchanged through "
    r"active units and stops at inactive ones. A scaled identity such as $0.01\,I$ divides "
    "it by 100 at every step."
)
st.markdown("**Spectral radius or largest singular value?**")
st.latex(
    r"\rho(W) = \max_i |\mu_i(W)| \;\le\; \lambda_1(W) = \max_{\|v\| = 1} \|W v\|, "
    r"\qquad \lim_{k \to \infty} \|W^k\|^{1/k} = \rho(W)"
)
st.markdown(
    r"They are equal for normal $W$ (orthogonal, symmetric, scaled identity); for "
    r"non-normal $W$, $\lambda_1$ can be much larger. $\rho$ sets the long-run rate per "
    r"step; $\lambda_1$ bounds every single step, and is what Pascanu et al.'s bound uses. "
    "rnnviz's control **Set the spectral radius of W_hh** rescales each $H \\times H$ gate "
    r"block of $W_{hh}$, after the gain, to the target $r$: $W \leftarrow r\,W/\rho(W)$ "
    r"when measured as *largest |eigenvalue|*, $W \leftarrow r\,W/\lambda_1(W)$ when "
    r"measured as *largest singular value λ₁*."
)
show_links("init")

# --- 6 -------------------------------------------------------------------------------------
header("clipping")
st.markdown(
    "Pascanu et al. 2013 (their Algorithm 1) rescale the gradient $g$ of all parameters "
    r"together when its norm reaches a threshold $\theta$:"
)
st.latex(r"\text{if } \|g\| \ge \theta: \qquad g \leftarrow \theta\, \frac{g}{\|g\|}")
st.markdown(
    "This is `optax.clip_by_global_norm(θ)` (in PyTorch, "
    "`torch.nn.utils.clip_grad_norm_`). It keeps the direction and caps the length of the "
    "step, so one exploding gradient cannot throw the weights far away.\n\n"
    "It does **not** help a vanishing gradient: clipping only ever shrinks $g$, and the "
    "long-range terms in the sum of section 2 are tiny *relative to* the short-range ones; "
    "rescaling the total keeps that ratio. Against vanishing, change the cell (section 4) or "
    "the initialisation (section 5); Pascanu et al. also propose a regulariser for it.\n\n"
    "Clipping acts during training: watch it on the **Training lab** page. The links below "
    "show the raw gradients it is for."
)
show_links("clipping")

# --- 7 -------------------------------------------------------------------------------------
header("deep")
st.markdown(
    r"**A stack.** Layer $\ell$ reads, at step $t$, the output of the layer below at the same "
    r"step: $h^{(\ell)}_t = \mathrm{cell}(h^{(\ell)}_{t-1},\ h^{(\ell-1)}_t)$, with "
    r"$h^{(0)}_t = x_t$. So $h^{(\ell)}_t$ reaches the loss along two kinds of step: **back "
    r"in time** within a layer, through $J^{(\ell)}_{t+1} = \partial h^{(\ell)}_{t+1} / "
    r"\partial h^{(\ell)}_t$, and **up a layer**, through $V^{(\ell+1)}_t = \partial "
    r"h^{(\ell+1)}_t / \partial h^{(\ell)}_t$ ($\mathrm{diag}(\mathrm{act}'(a^{(\ell+1)}_t))\, "
    r"W^{(\ell+1)}_{ih}$ for a vanilla RNN). One reverse pass computes every layer and step:"
)
st.latex(
    r"\delta^{(\ell)}_t = \delta^{(\ell)}_{t+1} J^{(\ell)}_{t+1} + "
    r"\delta^{(\ell+1)}_t V^{(\ell+1)}_t, \qquad "
    r"\delta^{(L)}_t = \frac{\partial \ell_t}{\partial h^{(L)}_t} + "
    r"\delta^{(L)}_{t+1} J^{(L)}_{t+1}, \qquad \delta^{(\ell)}_t = "
    r"\frac{\partial L}{\partial h^{(\ell)}_t}"
)
st.markdown(
    r"Unrolled, with the loss on the top layer $L$ at step $s$, $\partial L / \partial "
    r"h^{(\ell)}_t$ is a sum over the paths of the $(\text{layer}, \text{step})$ grid from "
    r"$(L, s)$ down to $(\ell, t)$: each path is a product of $s - t$ time Jacobians and "
    r"$L - \ell$ layer Jacobians, in some order, and there are "
    r"$\binom{s - t + L - \ell}{L - \ell}$ such paths. A few layers add only a few factors "
    r"to each product; a long sequence adds many. Whether going down the stack or back in "
    "time costs more, and which layer receives the most at the first steps, is read off "
    "the depth × time map, where each row is one layer (and direction)."
)
st.markdown(
    r"**A bidirectional layer** is two recurrences over the same inputs: the forward one "
    r"($\rightarrow$) reads $x_0, x_1, \ldots$; the backward one ($\leftarrow$) reads "
    r"$x_{T-1}, x_{T-2}, \ldots$, so "
    r"$\overleftarrow{h}_t = \mathrm{cell}(\overleftarrow{h}_{t+1}, x_t)$. Its output at "
    r"step $t$ is the pair $y_t = [\overrightarrow{h}_t, \overleftarrow{h}_t]$, and the "
    "layer above reads both halves. The backward direction's gradient runs the other way, "
    "from a loss at step $s$ toward **later** steps:"
)
st.latex(
    r"\frac{\partial L}{\partial \overleftarrow{h}_t} = \sum_{s \le t} "
    r"\frac{\partial \ell_s}{\partial \overleftarrow{h}_s}\, "
    r"\overleftarrow{J}_{s} \cdots \overleftarrow{J}_{t-1}, \qquad "
    r"\overleftarrow{J}_k = \frac{\partial \overleftarrow{h}_k}{\partial \overleftarrow{h}_{k+1}}"
)
st.markdown(
    r"**Where the loss reads decides what can be reached.** A loss read only at step $s$ "
    r"cannot depend on $\overrightarrow{h}_t$ for $t > s$, nor on $\overleftarrow{h}_t$ for "
    r"$t < s$: in that direction's reading those states come after $s$. In the top layer "
    "their gradient is exactly 0, a structural zero (no path), not a vanishing one. One "
    r"layer down there are paths again: $\overleftarrow{h}^{(L)}_s$ depends on "
    r"$\overleftarrow{h}^{(L)}_t$ for every $t > s$, which reads "
    r"$\overrightarrow{h}^{(L-1)}_t$; so the forward states below reach the loss from "
    "after $s$ through the backward direction above, and the backward states below from "
    "before $s$ through the forward one. A loss at the middle step shows both directions "
    "at once, each fading out from the middle toward its own end.\n\n"
    "Frameworks read different steps. PyTorch's `output[t]` is "
    r"$[\overrightarrow{h}_t, \overleftarrow{h}_t]$, so a classifier on `output[-1]` reads "
    r"$\overleftarrow{h}_{T-1}$, which has seen only $x_{T-1}$. Keras's "
    "`Bidirectional(LSTM(…))` with `return_sequences=False` returns each direction's "
    r"final state, $[\overrightarrow{h}_{T-1}, \overleftarrow{h}_0]$: both have read the "
    "whole sequence. rnnviz reads an uploaded Keras model that way (section 8)."
)
show_links("deep")

# --- 8 -------------------------------------------------------------------------------------
header("upload")
st.markdown(
    "Every page draws networks with the weights its settings draw. A network you trained "
    "yourself can be shown instead: open **Bring your own model** in the sidebar and "
    "upload " + model_files.EXPECTED + f" (at most {model_files.MAX_BYTES // model_files.MB}"
    " MB). The file is read as data, never run as code (no pickle), and kept in your "
    "session only; it follows you from page to page until you remove it.\n\n"
    "- rnnviz reads the recurrent layers: their cell (RNN, LSTM, GRU), layers, directions "
    "and sizes come from the file, so the cell, size and initialisation controls are "
    "greyed out while it is loaded. A Keras model's `Embedding` is kept; the loss is the "
    "page's readout of norm 1 of the top recurrent layer, as for the drawn networks, so "
    "what is drawn is the gradient that reaches your network's states.\n"
    "- **Inputs.** Gaussian noise at the model's input size, or, for a model with an "
    "`Embedding`, random token ids turned into vectors by its own embedding weights; each "
    "page that shows the model says which.\n"
    "- **Where the loss reads.** Where the page's setting says (*Loss on* on Gradient "
    "flow, *Loss reads* on Deep & bidirectional). On Deep & bidirectional, a Keras model "
    "whose top layer is a `Bidirectional` without `return_sequences` is read as Keras "
    "outputs it, each direction's final state (section 7).\n"
    "- **Which page.** *Gradient flow* shows one layer and direction of it, chosen in the "
    "sidebar; *Deep & bidirectional* shows every layer and direction on one depth × time "
    "map. Pages that compare drawn networks say so in the main area, with links to these "
    "two."
)
show_links("upload")

# --- 9 -------------------------------------------------------------------------------------
header("reading")
st.markdown(
    """
- Bengio, Simard & Frasconi 1994. *Learning long-term dependencies with gradient descent is
  difficult.* IEEE Transactions on Neural Networks 5(2).
- Hochreiter & Schmidhuber 1997. *Long short-term memory.* Neural Computation 9(8).
- Schuster & Paliwal 1997. *Bidirectional recurrent neural networks.* IEEE Transactions on
  Signal Processing 45(11).
- Gers, Schmidhuber & Cummins 2000. *Learning to forget: continual prediction with LSTM.*
  Neural Computation 12(10).
- Glorot & Bengio 2010. *Understanding the difficulty of training deep feedforward neural
  networks.* AISTATS.
- Pascanu, Mikolov & Bengio 2013. *On the difficulty of training recurrent neural networks.*
  ICML. [arXiv:1211.5063](https://arxiv.org/abs/1211.5063)
- Saxe, McClelland & Ganguli 2013. *Exact solutions to the nonlinear dynamics of learning in
  deep linear neural networks.* [arXiv:1312.6120](https://arxiv.org/abs/1312.6120)
- Graves, Mohamed & Hinton 2013. *Speech recognition with deep recurrent neural networks.*
  ICASSP. [arXiv:1303.5778](https://arxiv.org/abs/1303.5778)
- Cho et al. 2014. *Learning phrase representations using RNN encoder-decoder for
  statistical machine translation.* [arXiv:1406.1078](https://arxiv.org/abs/1406.1078)
- He, Zhang, Ren & Sun 2015. *Delving deep into rectifiers.*
  [arXiv:1502.01852](https://arxiv.org/abs/1502.01852)
- Le, Jaitly & Hinton 2015. *A simple way to initialize recurrent networks of rectified
  linear units.* [arXiv:1504.00941](https://arxiv.org/abs/1504.00941)
- Jozefowicz, Zaremba & Sutskever 2015. *An empirical exploration of recurrent network
  architectures.* ICML.
- Karpathy, Johnson & Fei-Fei 2015. *Visualizing and understanding recurrent networks.*
  [arXiv:1506.02078](https://arxiv.org/abs/1506.02078)
- Arjovsky, Shah & Bengio 2016. *Unitary evolution recurrent neural networks* (also the
  adding and copy tasks). [arXiv:1511.06464](https://arxiv.org/abs/1511.06464)
- Tallec & Ollivier 2018. *Can recurrent neural networks warp time?*
  [arXiv:1804.11188](https://arxiv.org/abs/1804.11188)
- Madsen 2019. *Visualizing memorization in RNNs.* Distill.
  [doi:10.23915/distill.00016](https://doi.org/10.23915/distill.00016)
"""
)
show_links("reading")
