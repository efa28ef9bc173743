"""The objective's per-position reductions from final hidden states, a chunk of positions at a time.

Every term of the objective reads the logits only through ``V(s_t) = tau logsumexp(Q(s_t, .) / tau)`` and
``Q(s_t, a_t)`` (``loss.imitation_loss_from_values``), and ``V`` is read at the positions holding a transition's
state or its next state. So instead of the (B, T, V) logits, ``chunked_soft_q`` takes the hidden states (B, T, H)
that the output head reads and the head itself, and for ``chunk_size`` positions at a time computes the chunk's
logits (C, V), reduces them with ``soft_q.legal_soft_q`` (the same function the full-logit path uses, with the
`<bksp>` legal-action mask) and drops them. Each chunk runs under non-reentrant activation checkpointing, so its
logits are recomputed in the backward pass instead of being kept: peak memory is O(chunk_size x V), not
O(T x V). The head is called as a module, so tied embeddings, LoRA or peft's trainable-token rows on the head, and
dropout inside it (checkpointing replays the random state) behave exactly as in the model's own forward.

``chunked_cross_entropy`` is plain MLE with the same chunking: the fair peer of `imitlm bench`'s large-vocabulary
rows, and the way to score log-likelihoods without (B, T, V) logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from imitlm.objectives.soft_q import IGNORE_INDEX, legal_soft_q

Head = Callable[[Tensor], Tensor]  # hidden states (C, H) -> logits (C, V), the architecture's scaling included
CHUNK_ELEMENTS = 2**23  # logits per chunk: 32 MiB in float32 (chunk_size = CHUNK_ELEMENTS // vocabulary)


def default_chunk_size(vocab_size: int) -> int:
    """Positions per chunk so that one chunk's float32 logits take about ``CHUNK_ELEMENTS`` entries."""
    return max(16, CHUNK_ELEMENTS // max(vocab_size, 1))


def needed_positions(targets: Tensor, next_index: Tensor, done: Tensor) -> Tensor:
    """(B, T) bool: positions whose ``V`` or ``Q(s, a_t)`` the objective reads, i.e. the state of a valid transition
    (``targets != -100``) or the next state of one that is not terminal. Prompt and padding positions are not."""
    valid = targets != IGNORE_INDEX  # (B, T)
    seq_len = targets.shape[-1]
    bootstrap = (valid & ~done).to(torch.int32)
    hits = torch.zeros_like(bootstrap).scatter_add_(-1, next_index.clamp(0, seq_len - 1), bootstrap)
    return valid | (hits > 0)


def _chunk_soft_q(hidden: Tensor, targets: Tensor, illegal: Tensor, rows, head: Head, bksp_id, tau: float):
    logits = head(hidden).float()  # (C, V): read as Q(s, .) in float32, as the full-logit path reads them
    return legal_soft_q(logits, targets, illegal, bksp_id, tau, illegal_rows=rows)


def _run(fn, *args):
    """``fn(*args)``, checkpointed (recomputed in backward) when a gradient will flow through it."""
    if torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def chunked_soft_q(
    hidden: Tensor,
    head: Head,
    targets: Tensor,
    next_index: Tensor,
    done: Tensor,
    bksp_illegal: Tensor | None = None,
    bksp_id: int | None = None,
    tau: float = 1.0,
    chunk_size: int = 256,
) -> tuple[Tensor, Tensor]:
    """``(values, q_taken)``, each (B, T) float32, as ``legal_soft_q(head(hidden).float(), ...)`` gives them, without
    (B, T, V) logits. Positions outside ``needed_positions`` hold 0 (the objective never reads them).

    Args:
        hidden: (B, T, H) the input of the output head (after the final norm), with its autograd graph.
        head: hidden (C, H) -> logits (C, V); the model's output embedding plus any logit scaling/soft-capping.
        targets, next_index, done, bksp_illegal: the layout's (B, T) tensors (``backspace.layout.Layout``).
        chunk_size: positions per chunk; peak memory of the reductions is a few chunk_size x V floats.
    """
    batch, seq_len, width = hidden.shape
    flat = needed_positions(targets, next_index, done).flatten().nonzero().squeeze(-1)  # (N,) positions to reduce
    states = hidden.reshape(batch * seq_len, width).index_select(0, flat)  # (N, H)
    chosen_targets = targets.flatten().index_select(0, flat)  # (N,)
    if bksp_id is not None and bksp_illegal is not None:
        illegal = bksp_illegal.flatten().index_select(0, flat)  # (N,)
        illegal_at = illegal.nonzero().squeeze(-1).tolist()  # one device sync for all chunks, not one per chunk
    else:
        illegal, illegal_at = None, []
    value_parts, q_parts = [], []
    for start in range(0, flat.numel(), chunk_size):
        end = min(start + chunk_size, flat.numel())
        rows = None
        if illegal is not None:
            local = [i - start for i in illegal_at if start <= i < end]
            rows = (torch.tensor(local, dtype=torch.long, device=hidden.device),)
        values, q_taken = _run(
            _chunk_soft_q,
            states[start:end],
            chosen_targets[start:end],
            None if illegal is None else illegal[start:end],
            rows,
            head,
            bksp_id,
            tau,
        )
        value_parts.append(values)
        q_parts.append(q_taken)
    zeros = torch.zeros(batch * seq_len, dtype=torch.float32, device=hidden.device)
    if not value_parts:  # no transition in the batch
        return zeros.view(batch, seq_len), zeros.view(batch, seq_len)
    values = zeros.index_copy(0, flat, torch.cat(value_parts)).view(batch, seq_len)
    q_taken = zeros.index_copy(0, flat, torch.cat(q_parts)).view(batch, seq_len)
    return values, q_taken


def _chunk_nll(hidden: Tensor, targets: Tensor, head: Head) -> Tensor:
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def chunked_cross_entropy(hidden: Tensor, head: Head, targets: Tensor, chunk_size: int = 256) -> tuple[Tensor, Tensor]:
    """``(sum of -log softmax(head(hidden))[target], count)`` over positions with ``targets != -100``, chunk by chunk
    with the same checkpointing as ``chunked_soft_q``; ``targets`` (B, T) are aligned with ``hidden`` (already
    shifted: the target at position i is the token at i + 1). Equals ``F.cross_entropy(logits, targets,
    reduction="sum")`` on the full logits."""
    batch, seq_len, width = hidden.shape
    flat = (targets != IGNORE_INDEX).flatten().nonzero().squeeze(-1)  # (N,)
    states = hidden.reshape(batch * seq_len, width).index_select(0, flat)  # (N, H)
    chosen = targets.flatten().index_select(0, flat)  # (N,)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, flat.numel(), chunk_size):
        total = total + _run(_chunk_nll, states[start : start + chunk_size], chosen[start : start + chunk_size], head)
    return total, torch.tensor(flat.numel(), device=hidden.device)
