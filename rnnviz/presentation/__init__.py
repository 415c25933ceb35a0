"""The presentation: Plotly figures from arrays (`plots`, no Streamlit) and the Streamlit side
(`ui`, the only module of rnnviz that imports streamlit: page frame, menu, URL-bound
controls). app.py and pages/ call this layer and the experiments. Imports point down only
(presentation -> experiments -> engine): nothing in the layers below imports from here."""
