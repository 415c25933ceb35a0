"""Test set-up: float64 is available (for check_grads), but rnnviz keeps float32 by default."""
import jax

# Arrays created without a dtype become float64; rnnviz passes float32 explicitly, so the
# float32 paths (the ones the app runs) are still what the tests exercise.
jax.config.update("jax_enable_x64", True)
