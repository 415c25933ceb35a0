"""Named classroom scenarios: a page, its settings, and what to say about them."""
from typing import NamedTuple


class Preset(NamedTuple):
    """One scenario; `query` holds URL parameters, unspecified ones take their defaults."""

    name: str
    page: str
    query: dict
    narration: str


FLOW = "pages/1_Gradient_flow.py"
COMPARE = "pages/2_Compare_cells.py"
LAB = "pages/6_Training_lab.py"

PRESETS = (
    Preset(
        "Vanishing: orthogonal × 0.9", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "0.9", "T": "200", "inputs": "noise"},
        "A tanh RNN whose recurrent matrix shrinks every vector by 0.9. Each step back "
        "multiplies the gradient by at most 0.9 (and by tanh′ < 1 on top), so after 100 steps "
        "less than 1e-5 of it is left: the early inputs cannot be learned from.",
    ),
    Preset(
        "Exploding: orthogonal × 1.1", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "1.1", "T": "300", "inputs": "zeros"},
        "With zero inputs the state stays at 0, where tanh′ = 1, so the gradient is multiplied "
        "by exactly 1.1 per step: it grows 10× every 24 steps. The dashed bound (1.1)^(T−1−t) "
        "lies right on top of the curve.",
    ),
    Preset(
        "The edge of chaos: gain 1.0", FLOW,
        {"cell": "rnn", "init": "orthogonal", "gain": "1.0", "T": "300", "inputs": "noise"},
        "W_hh preserves norms exactly, yet the gradient still vanishes: the inputs push units "
        "into tanh's flat tails, where tanh′ < 1. Try gain 1.05 or 1.2 to see the tug of war.",
    ),
    Preset(
        "IRNN: relu with W_hh = I", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "1.0", "T": "300", "inputs": "sine"},
        "Le, Jaitly & Hinton 2015: with the identity and relu, active units copy the gradient "
        "back unchanged. It neither vanishes nor explodes for as long as units stay active.",
    ),
    Preset(
        "Scaled identity 0.01·I forgets", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "0.01", "T": "100", "inputs": "sine"},
        "The same IRNN with W_hh = 0.01·I: each step back divides the gradient by 100, "
        "so it falls 10× every half step. Compare with the IRNN preset.",
    ),
    Preset(
        "LSTM, forget bias 0", FLOW,
        {"cell": "lstm", "init": "orthogonal", "forget_bias": "0.0", "T": "300"},
        "With b_f = 0 the forget gate sits near σ(0) = 0.5: the cell state halves at every "
        "step, and so does the gradient along it. Look at the orange ∂L/∂c_t curve.",
    ),
    Preset(
        "LSTM, forget bias 1", FLOW,
        {"cell": "lstm", "init": "orthogonal", "forget_bias": "1.0", "T": "300"},
        "Gers et al. 2000 and Jozefowicz et al. 2015: b_f = 1 keeps f ≈ 0.73, and the cell "
        "state carries the gradient much further back. Try 3 or 5.",
    ),
    Preset(
        "Chrono initialisation for long memory", FLOW,
        {"cell": "lstm", "init": "orthogonal", "chrono": "1000", "T": "1000"},
        "Tallec & Ollivier 2018: b_f ~ log U[1, T_max − 1] spreads the units' memory spans up "
        "to T_max steps. Some units keep the gradient alive across 1000 steps.",
    ),
    Preset(
        "GRU versus LSTM at T = 500", COMPARE,
        {"init": "orthogonal", "T": "500", "forget_bias": "1.0", "update_bias": "1.0"},
        "All three cells with the same inputs and weights' family. The gates give the LSTM and "
        "the GRU an additive path for the gradient; the vanilla RNN's dies within tens of steps.",
    ),
    Preset(
        "Why gates matter: the adding problem", LAB,
        {"compare": "true", "task": "adding", "T": "50", "hidden_size": "32",
         "chrono_tmax": "50.0", "learning_rate": "0.02", "steps": "700", "seed": "0"},
        "Press Train. All three cells see the same sequences. The tanh RNN stays at the "
        "no-memory loss 1/6: its gradient from the last step never reaches the two marked "
        "numbers. The LSTM and GRU break through within a few hundred steps.",
    ),
    Preset(
        "Clipping rescues an exploding IRNN", LAB,
        {"compare": "false", "task": "sine", "T": "30", "cell": "rnn_relu", "hidden_size": "16",
         "scheme": "identity", "optimizer": "sgd", "learning_rate": "0.13", "clip": "1.0",
         "steps": "300"},
        "A relu RNN with W_hh = I and plain SGD. Press Train: clipping fires (circles on the "
        "curve) and the loss falls below the baseline. Switch clipping off and train again: "
        "the loss shoots to 1e17 in two steps.",
    ),
    Preset(
        "relu RNN blowing up", FLOW,
        {"cell": "rnn_relu", "init": "identity", "gain": "1.3", "T": "400", "inputs": "noise"},
        "A relu has no ceiling: with W_hh = 1.3·I the hidden state itself grows 1.3× per step "
        "until it overflows float32. Watch where the page says the blow-up began.",
    ),
)
