"""Sampling primitives on logits: temperature, top-k, top-p, draw. Torch only, no model."""

from __future__ import annotations

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits per row (ties at the k-th value kept), -inf elsewhere; k <= 0: no-op."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of top tokens whose probability reaches ``p``.

    The most likely token is always kept; p >= 1: no-op.
    """
    if p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    mass_before = probs.cumsum(-1) - probs  # probability of strictly better tokens
    remove_sorted = mass_before >= p
    remove_sorted[..., 0] = False
    remove = torch.zeros_like(remove_sorted).scatter(-1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def process_logits(
    logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> torch.Tensor:
    """Temperature, then top-k, then top-p (the order of Hugging Face's ``generate``)."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (use do_sample=False for greedy)")
    if temperature != 1.0:
        logits = logits / temperature
    logits = top_k_filter(logits, top_k)
    return top_p_filter(logits, top_p)


def sample_from_logits(
    logits: torch.Tensor, *, do_sample: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids: argmax if not ``do_sample``, else a draw from softmax."""
    if not do_sample:
        return logits.argmax(-1)
    probs = logits.float().softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
