"""Rollouts: sampling primitives, batched generation with `<bksp>` (stack machine, per-step processors, loop),
the replay buffer, trace display (docs/design.md, "The `<bksp>` layout", "Rollouts and the mixture")."""

from imitlm.rollout.buffer import ReplayBuffer, collect_rollouts
from imitlm.rollout.display import format_trace
from imitlm.rollout.generate import GenerationResult, generate_with_backspace
from imitlm.rollout.sampling import process_logits, sample_from_logits, top_k_filter, top_p_filter

__all__ = [
    "GenerationResult",
    "ReplayBuffer",
    "collect_rollouts",
    "format_trace",
    "generate_with_backspace",
    "process_logits",
    "sample_from_logits",
    "top_k_filter",
    "top_p_filter",
]
