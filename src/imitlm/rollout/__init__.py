"""Rollouts: sampling primitives, batched generation with `<bksp>`, trace display (DESIGN sec 6)."""

from imitlm.rollout.display import format_trace
from imitlm.rollout.generate import GenerationResult, generate_with_backspace
from imitlm.rollout.sampling import process_logits, sample_from_logits, top_k_filter, top_p_filter

__all__ = [
    "GenerationResult",
    "format_trace",
    "generate_with_backspace",
    "process_logits",
    "sample_from_logits",
    "top_k_filter",
    "top_p_filter",
]
