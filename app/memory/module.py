"""`NeuralMemory`: the engine as an `nn.Module` with Titans' projections, convolutions and gates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import ConvState, ShortCausalConv
from .functional import applied_weights, memory_forward
from .run import run_memory
from .spec import MemorySpec
from .state import MemoryState, StreamState


@dataclass
class NeuralMemoryState(StreamState):
    """The memory's state plus the convolution's: the last (kernel - 1) projected inputs."""

    memory: MemoryState
    conv: ConvState


torch.serialization.add_safe_globals([NeuralMemoryState])


# The inner learning rate's gate, theta = theta_max * form(z). "hard" (F.hardsigmoid, 0 for z <= -3)
# can close exactly: a token the model does not write leaves the memory as it was, however many such
# tokens a stream holds, where sigmoid's (the papers') smallest steps still add up over a long stream
# (README, "Long-context recall").
WRITE_GATE_FORMS = {"sigmoid": torch.sigmoid, "hard": F.hardsigmoid}


class NeuralMemory(nn.Module):
    """A long-term memory layer: x (B, T, d_model) -> y (B, T, d_model), streaming with a state.

    q, k, v come from one projection, each channel through a short causal depthwise convolution and
    SiLU; q and k are L2-normalised per head. The gates are per token and per head:
    theta = theta_max * sigmoid (the papers', the default) or hardsigmoid (`write_gate="hard"`) (the
    inner learning rate; theta_max defaults to 1 / chunk_size; with `momentum_bounded_step`, times
    (1 - eta)),
    eta = sigmoid (momentum), alpha = sigmoid (forget), delta = softplus (Huber threshold).
    The initial memory W_0 is a learned parameter; everything here is trained by the outer loop,
    while the memory's weights learn inside the forward.

    `learns` (default True): whether the memory writes in its forward (test-time learning). With
    `learns = False` the forward only reads: theta (inner learning rate), eta (momentum) and alpha
    (forget) are exactly 0 for the new tokens and for the unfinished chunk carried in the state, so
    for every MIRAS preset the write is the identity: the momentum S_t = 0 * S_{t-1} - 0 * g_t = 0
    and the raw state R_t = (1 - 0) R_{t-1} + S_t (or + 0 for gd) = R_{t-1} (decay, lq and simplex
    retention all scale R by 1 - alpha). The weights stay those of the state passed in (W_0 for a new
    stream) as of its last chunk boundary: writes still pending in a partial chunk seen while learning
    are dropped, not applied. With the momentum algorithm the carried momentum does not survive: it
    becomes 0 after the first write that lands with updates off (eta = 0), so switching back on
    restarts it from 0. The Huber threshold delta is unchanged (it only acts through theta).
    Everything else runs as usual: projections, convolution, positions and the partial chunk are still
    carried, so streaming in pieces equals one pass. A plain attribute: not a parameter, not saved in
    state dicts (a loaded model learns); it survives deepcopy and pickling of the module.
    """

    # theta starts at theta_max / 2, eta near 0.73, alpha near 0.002, delta near 10. delta (Yaad's
    # Huber threshold) starts above the initial errors, so writes start as the l2 step, whose size
    # follows the error; softplus is linear there, so the outer loop can still lower it per token
    # (README, "Long-context recall").
    GATE_INIT_BIAS = {"theta": 0.0, "eta": 1.0, "alpha": -6.0, "delta": 10.0}
    WRITE_GATES = ("theta", "eta", "alpha")
    """The gates set to 0 when `learns` is False."""

    def __init__(
        self,
        d_model: int,
        spec: MemorySpec,
        heads: int,
        conv_kernel: int = 4,
        theta_max: float | None = None,
        mode: str = "chunked",
        momentum_bounded_step: bool | None = None,
        write_gate: str = "sigmoid",
    ):
        super().__init__()
        if write_gate not in WRITE_GATE_FORMS:
            raise ValueError(
                f"NeuralMemory.write_gate: expected one of {', '.join(WRITE_GATE_FORMS)}; got {write_gate!r}"
            )
        self.write_gate = write_gate
        if heads < 1:
            raise ValueError(f"NeuralMemory.heads: expected >= 1; got {heads}")
        # All gradients of a chunk are taken at the same weights and summed, so the chunk's step grows
        # with its size; capping theta at 1 / chunk_size keeps a chunk's step no larger than one unit
        # step (larger caps diverge in float64 as well, see tests/memory/test_stability.py).
        self.theta_max = 1.0 / spec.chunk_size if theta_max is None else theta_max
        self.spec, self.heads, self.mode = spec, heads, mode
        if momentum_bounded_step and "eta" not in spec.gates_used():
            raise ValueError("NeuralMemory: momentum_bounded_step needs the momentum algorithm")
        # None: part of the stable rule, so on exactly when there is momentum.
        if momentum_bounded_step is None:
            momentum_bounded_step = spec.algorithm == "momentum"
        self.momentum_bounded_step = momentum_bounded_step
        self.qkv_widths = (heads * spec.dim_key, heads * spec.dim_key, heads * spec.dim_value)
        channels = sum(self.qkv_widths)
        self.to_qkv = nn.Linear(d_model, channels, bias=False)
        self.conv = ShortCausalConv(channels, conv_kernel, activation=True)
        self.gate_names = spec.gates_used()
        self.to_gates = nn.Linear(d_model, heads * len(self.gate_names))
        with torch.no_grad():
            bias = torch.tensor([self.GATE_INIT_BIAS[name] for name in self.gate_names])
            self.to_gates.bias.copy_(bias.repeat_interleave(heads))
        self.initial_weights = nn.ParameterList(
            nn.Parameter(torch.randn(heads, out_dim, in_dim) * self._initial_scale(in_dim))
            for out_dim, in_dim in spec.weight_shapes()
        )
        self.to_out = nn.Linear(heads * spec.dim_value, d_model, bias=False)
        self.learns = True

    def _initial_scale(self, in_dim: int) -> float:
        """The standard deviation of W_0's entries: 1 / sqrt(in) (rows of about unit norm), except for
        simplex retention, whose W_0 holds softmax logits: at spread 2 the rows differ from the start
        (near-uniform rows make every hidden unit the same average of the key) without saturating."""
        return 2.0 if self.spec.retention == "simplex" else in_dim**-0.5

    def initial_state(self, batch: int) -> NeuralMemoryState:
        memory = MemoryState.initial(self.spec, list(self.initial_weights), batch)
        return NeuralMemoryState(memory, self.conv.initial_state(batch))

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        raw = self.to_gates(x).view(*x.shape[:2], len(self.gate_names), self.heads).permute(2, 0, 3, 1)
        activate = {
            "theta": lambda z: self.theta_max * WRITE_GATE_FORMS[self.write_gate](z),
            "eta": torch.sigmoid,
            "alpha": torch.sigmoid,
            "delta": F.softplus,
        }
        gates = {name: activate[name](raw[i]) for i, name in enumerate(self.gate_names)}
        if self.momentum_bounded_step:  # the step with momentum's amplification 1 / (1 - eta) in it
            gates["theta"] = gates["theta"] * (1.0 - gates["eta"])
        if not self.learns:
            gates.update({name: torch.zeros_like(g) for name, g in gates.items() if name in self.WRITE_GATES})
        return gates

    def _frozen(self, state: MemoryState) -> MemoryState:
        """`state` with the write gates of its unfinished chunk set to 0 (see `learns`)."""
        if state.pending is None:
            return state
        pending = {
            name: torch.zeros_like(t) if name in self.WRITE_GATES else t for name, t in state.pending.items()
        }
        # Without `running`: the token steps' cached writes used the gates before they were zeroed.
        return MemoryState(state.weights, state.momentum, state.position, pending)

    def forward(self, x: Tensor, state: NeuralMemoryState | None = None) -> tuple[Tensor, NeuralMemoryState]:
        if x.dim() != 3:
            raise ValueError(f"NeuralMemory: x: expected shape (B, T, d_model); got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0])
        mixed, conv_state = self.conv(self.to_qkv(x), state.conv)
        q, k, v = (self._split_heads(part) for part in mixed.split(self.qkv_widths, dim=-1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        memory = state.memory if self.learns else self._frozen(state.memory)
        y, memory = run_memory(self.spec, q, k, v, self.gates(x), memory, mode=self.mode)
        y = y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.to_out(y), NeuralMemoryState(memory, conv_state)

    def retrieve(self, x: Tensor, state: NeuralMemoryState, conv: ConvState) -> tuple[Tensor, ConvState]:
        """Read without writing: to_out(M_W(q(x))) at W, the weights of `state` at its last chunk
        boundary, with the queries' convolution carried in `conv`, a stream of its own (MAC's
        retrieval). The k and v channels are projected too, so the convolution is the same module."""
        mixed, conv = self.conv(self.to_qkv(x), conv)
        q = F.normalize(self._split_heads(mixed[..., : self.qkv_widths[0]]), dim=-1)
        h = memory_forward(self.spec, applied_weights(self.spec, state.memory.weights), q)
        return self.to_out(h.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), conv
