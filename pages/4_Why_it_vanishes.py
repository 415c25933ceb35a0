"""Why it vanishes: the spectrum of W_hh, the step Jacobians, and their product."""
import numpy as np
import streamlit as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.jacobians import block_label
from rnnviz.experiments import one_layer
from rnnviz.presentation import plots, ui

config = ui.flow_page("Why it vanishes: Jacobians and spectra", ":material/blur_circular:")

with ui.computing("Computing the Jacobians (the first view compiles for a few seconds)…"):
    # The student's model (the chosen layer of it), or the drawn network.
    config, view, r = ui.drawn_or_model(
        config, "jacobians", ui.jacobian_analysis, one_layer.jacobian_analysis)

st.markdown(
    "Going back one step multiplies the gradient by the step Jacobian "
    "J_t = ∂h_t/∂h_{t−1}. **If every J_t shrinks vectors, their product must vanish**; "
    "for a vanilla RNN, J_t = diag(act′) W_hh, and act′ ≤ 1, so W_hh decides."
)
st.latex(r"\Big\|\frac{\partial h_T}{\partial h_t}\Big\| \le \prod_{k=t+1}^{T}"
         r"\|\mathrm{diag}(\mathrm{act}'(a_k))\|\,\|W_{hh}\| \le (\gamma\lambda_1)^{T-t}")

v = r.verdict
left, mid, right = st.columns(3)
if v.applies:
    left.metric("λ₁, largest singular value of W_hh", f"{v.lambda1:.3f}")
    mid.metric("Threshold 1/γ (γ = max act′)", f"{v.threshold:g}")
    right.markdown(f"Verdict (Pascanu et al. 2013)\n\n**{v.verdict}**")
    box = st.success if v.verdict == "vanishing guaranteed" else st.warning
    box(v.explanation, icon=":material/gavel:")
else:
    left.markdown(f"Verdict (Pascanu et al. 2013)\n\n**{v.verdict}**")
    st.info(v.explanation, icon=":material/info:")
if r.state_blowup_step is not None:
    st.error(f"The hidden state overflowed float32 at step {r.state_blowup_step}; the "
             "Jacobians from there on are NaN and not drawn.", icon=":material/warning:")
if view is not None:
    ui.model_view_note(view)
elif config.radius is None:
    st.caption("Tip: switch on **Set the spectral radius of W_hh** in the sidebar and drag "
               "it: the eigenvalues and the curves below move together.")

st.markdown("#### Where are the eigenvalues of W_hh?")
st.plotly_chart(
    ui.figure("eigenvalue_plane", 
        r.spectrum.eigenvalues,
        {b: block_label(config.cell, b) for b in r.spectrum.eigenvalues},
        "Eigenvalues of W_hh in the complex plane", cell=config.cell,
    ),
    width="stretch",
)
radius = max(r.spectrum.radius.values())
lam1 = max(r.spectrum.lambda1.values())
st.caption(f"Spectral radius max |λ| = {radius:.3f}; largest singular value λ₁ = {lam1:.3f}. "
           "Inside the circle, repeated multiplication by W_hh shrinks a vector in the long "
           "run; λ₁ bounds every single step (λ₁ ≥ |λ| always, equal for normal matrices).")

st.markdown("#### How much does one step back shrink the gradient?")
st.plotly_chart(
    ui.figure("singular_value_band", r.steps, r.svals, 1.0, "Singular values of J_t over time",
                              cell=config.cell),
    width="stretch",
)
every = "every step" if r.stride == 1 else f"one step in {r.stride}"
st.caption(f"The first sequence, {every}: every direction of the state (which "
           "includes c for the LSTM: J_t is 2H×2H). When the largest singular value stays "
           "below 1, every step shrinks every direction.")

st.markdown("#### And all the steps together?")
st.plotly_chart(
    ui.figure("gradient_profile", {"‖∂h_T/∂h_t‖₂": r.profile}, FLOOR,
                           "Norm of the product of Jacobians (log scale)",
                           bound=r.bound, y_title="‖∂h_T/∂h_t‖₂ (log scale)", t=r.steps,
                           styles={"‖∂h_T/∂h_t‖₂": plots.cell_line(config.cell)}),
    width="stretch",
)
st.caption("Spectral norm of the whole product, computed in log space (exact far below "
           "1e-30), for the first sequence. Dashed: (γλ₁)^(T−1−t) for vanilla cells.")

rows = ["t,jacobian_product_norm"] + [f"{t},{p:.6e}" for t, p in zip(r.steps, r.profile)]
svals_rows = ["t,smallest,median,largest"] + [
    f"{t},{a:.6e},{b:.6e},{c:.6e}" for t, (a, b, c) in zip(r.steps, np.asarray(r.svals).T)
]
left, right = st.columns(2)
left.download_button("Download ‖∂h_T/∂h_t‖ (CSV)", "\n".join(rows) + "\n",
                      file_name=f"rnnviz_jacobian_product_{config.cell}.csv", mime="text/csv")
right.download_button("Download the singular values of J_t (CSV)", "\n".join(svals_rows) + "\n",
                      file_name=f"rnnviz_step_jacobians_{config.cell}.csv", mime="text/csv")
