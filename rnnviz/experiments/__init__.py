"""The experiments the pages run: one validated config per page and the cached entry points
that return numpy (`one_layer` for pages 1-5, `deep` for deep & bidirectional networks),
students' model files, the sentences computed from the arrays (`claims`), the presets, and
the closed catalogue of every compiled program. No Streamlit. Imports point down only
(presentation -> experiments -> engine): these modules use rnnviz.engine, never
rnnviz.presentation."""
