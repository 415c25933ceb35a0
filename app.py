"""rnnviz home page: what this is, and what to try first."""
import streamlit as st

from rnnviz import ui

menu = ui.page_frame("rnnviz: why recurrent networks forget", ":material/neurology:")
ui.menu(menu)

st.markdown(
    """
Train a recurrent network and the gradient of the loss must travel **back through time**,
multiplied at every step by the same kind of Jacobian. Multiply many numbers below 1 and you
get almost nothing (the gradient **vanishes**, and the network cannot learn long-range
dependencies); above 1 and it **explodes**.

rnnviz computes that gradient **exactly**, with JAX, for a vanilla RNN, an LSTM and a GRU,
while you change the cell, the sequence length and the initialisation.
"""
)
st.subheader("Try this first")
st.markdown(
    """
1. Open **Gradient flow**. A tanh RNN with orthogonal weights starts at gain 1.
2. Set the gain to **0.9**: the curve tilts down, the gradient dies within tens of steps.
3. Set the gain to **1.1** and the inputs to **zeros**: now it grows going back (exploding).
4. Switch the cell to **LSTM** with forget-gate bias 1, then 5: the cell state carries the
   gradient much further back (the constant error carousel).
5. Open the **Training lab** and press **Train**: on the adding problem the vanilla RNN stays
   at the no-memory baseline while the LSTM and the GRU learn, and you watch the gradient
   flow change as they do.

**Why it vanishes** shows the spectrum and the step Jacobians behind the curves,
**Connectivity** what each hidden state still remembers of each input, and **Theory** the
equations, each linked to the view that shows it.
"""
)
st.subheader("Classroom scenarios")
st.caption("Each link opens a page with its settings loaded; the address bar then holds them, "
           "so you can share the exact view with a class.")
ui.preset_gallery()
st.caption(
    "Every number on screen is tested against an independent computation: a NumPy "
    "implementation of the equations, finite differences, or a closed form."
)
