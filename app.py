"""rnnviz home page: what this is, and what to try first."""
import streamlit as st

from rnnviz.presentation import ui

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
st.page_link(ui.page_object(ui.LESSON_PAGE), label="**Teaching this?** Present the lesson "
             "*Why recurrent networks forget*: thirteen live steps, one question each",
             icon=":material/co_present:")
st.subheader("Try this first")
st.markdown(
    """
1. Open **Gradient flow**. A tanh RNN with orthogonal weights starts at gain 1; the
   headline above the chart says how the gradient changes going back in time.
2. Set the gain to **0.9** and read the headline again: how many steps back per 10×?
3. Set the gain to **1.1** and the inputs to **zeros**: does the curve now rise to the left?
4. Switch the cell to **LSTM** and compare forget-gate bias 1 with 5: open *Compare values
   of one setting* in the sidebar and draw both curves on one chart.
5. Open the **Training lab** and press **Train**: the page says, for each cell, whether its
   loss got below the no-memory baseline, and the maps show where the gradient reaches.
6. Open **Deep & bidirectional** with the loss at **the middle step**: each direction's
   gradient runs out from that step toward its own end, and the layer below hears both.
"""
)
st.subheader("The pages")
st.markdown(
    """
| Page | What it shows |
|---|---|
| **Gradient flow** | ‖∂L/∂h_t‖ going back in time for one cell, with Pascanu et al.'s bound |
| **Compare cells** | the RNN, the LSTM and the GRU on the same inputs |
| **Gate activations** | the LSTM's and GRU's gates over time: how often each saturates, how long the cell state remembers |
| **Why it vanishes** | the spectrum of W_hh and the step Jacobians behind the curves |
| **Connectivity** | what each hidden state still remembers of each input |
| **Training lab** | three cells trained on the adding, copy-memory and sine tasks, with full or truncated backpropagation through time |
| **Deep & bidirectional** | stacks of layers, two reading directions, where the loss reads: the gradient through depth and time on one map |
| **Theory** | the equations, each linked to the view that shows it |
| **Words** | an RNN and an LSTM trained on subject–verb agreement: which words of a sentence you type still get the gradient, and how far back each finds the subject |
| **Architectures** | many-to-one, aligned, one-to-many and encoder–decoder unrolled, each beside the map of which inputs each output's loss reaches |
| **Encoder–decoder** | one trained live to copy a sequence, beside the same model with the source reversed or with attention: how far each output's gradient travels |
| **Text generator** | the courses' next-character model trained live, statefully, with samples, and which earlier characters the next one still hears |
| **Lesson** | a guided tour for the projector in thirteen live steps, with a question for the class at each; presenter mode, a room your class follows on their laptops, and the lesson as one HTML file to take home |

**Your own model.** Open *Bring your own model* in the sidebar and upload a PyTorch
`state_dict` (.safetensors or .npz) or a Keras 3 `.keras` file: **Gradient flow** then shows
one layer and direction of it and **Deep & bidirectional** every layer, with your weights;
a Keras model with an Embedding and a Dense head explains a sentence you type on **Words**
(with its vocabulary file); it stays loaded for this session, from page to page.
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
