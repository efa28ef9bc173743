"""The objective's per-position reductions from final hidden states, a chunk of positions at a time.

Every term of the objective reads the logits only through ``V(s_t) = tau logsumexp(Q(s_t, .) / tau)`` and
``Q(s_t, a_t)`` (``loss.imitation_loss_from_values``), and ``V`` only at the positions holding a transition's state
or its next state (``needed_positions``). So instead of the (B, T, V) logits, ``chunked_soft_q`` takes the hidden
states (B, T, H) that the output head reads and the head itself, computes ``chunk_size`` positions' logits (C, V) at
a time, reduces them and drops them; the backward pass recomputes each chunk's logits instead of keeping them, so
peak memory is O(chunk_size x V), not O(T x V). Two ways, same numbers:

- a plain linear head (``LinearHead``: weight, optional bias, a constant logit scale): ``_LinearSoftQ``, a custom
  autograd function in the manner of fused linear cross-entropy. Its backward forms the chunk's gradient
  ``dL/dz = g_V softmax(z / tau) + g_Q onehot(a_t)`` in place from the saved ``V`` and accumulates the weight's
  gradient into one buffer (``addmm_``): no autograd graph per chunk, no (V, H) gradient per chunk to add up;
- any other head (a callable: LoRA or peft's trainable-token rows on the head, soft-capping): each chunk under
  non-reentrant activation checkpointing, reduced by ``soft_q.legal_soft_q`` (the full-logit path's function), so
  the module behaves exactly as in the model's own forward (checkpointing replays dropout's random state).

Both mask the illegal `<bksp>` (``Q(s, <bksp>) = -inf`` where the state is the prompt) per chunk, in place.
``chunked_cross_entropy`` is plain MLE with the same chunking: the fair peer of `imitlm bench`'s large-vocabulary
rows.
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


class LinearHead:
    """The output head ``logits = scale * (hidden @ weight.T + bias)``; callable like the module it stands for."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, scale: float = 1.0):
        self.weight, self.bias, self.scale = weight, bias, float(scale)

    def __call__(self, hidden: Tensor) -> Tensor:
        logits = F.linear(hidden, self.weight, self.bias)
        return logits * self.scale if self.scale != 1.0 else logits


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


def _chunk_logits(head: LinearHead, states: Tensor, illegal_rows: list[int], bksp_id: int | None) -> Tensor:
    """(C, V) float32 logits of a chunk, ``Q(s, <bksp>) = -inf`` at the listed rows (a tensor of our own: in place)."""
    logits = F.linear(states, head.weight, head.bias).float()
    if head.scale != 1.0:
        logits.mul_(head.scale)
    if illegal_rows:
        rows = torch.tensor(illegal_rows, dtype=torch.long, device=logits.device)
        logits[rows, bksp_id] = float("-inf")
    return logits


def _rows_in(illegal_at: list[int], start: int, end: int) -> list[int]:
    return [i - start for i in illegal_at if start <= i < end]


class _LinearSoftQ(torch.autograd.Function):
    """``(V, Q(s, a_t))`` (N,), (N,) of ``states`` (N, H) under a ``LinearHead``, chunk by chunk; the backward pass
    recomputes each chunk's logits once and turns them into their gradient in place."""

    @staticmethod
    def forward(ctx, states, weight, bias, targets, illegal_at, bksp_id, tau, scale, chunk_size):
        head = LinearHead(weight, bias, scale)
        count = states.shape[0]
        values = torch.empty(count, dtype=torch.float32, device=states.device)
        q_taken = torch.empty_like(values)
        valid = targets != IGNORE_INDEX
        safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
        for start in range(0, count, chunk_size):
            end = min(start + chunk_size, count)
            logits = _chunk_logits(head, states[start:end], _rows_in(illegal_at, start, end), bksp_id)  # (C, V)
            q_taken[start:end] = logits.gather(1, safe_targets[start:end, None]).squeeze(1)  # Q(s_t, a_t)
            top = logits.amax(dim=1, keepdim=True)  # (C, 1)
            shifted = logits.sub_(top) if tau == 1.0 else logits.sub_(top).div_(tau)  # in place: not needed again
            exp_sum = shifted.exp_().sum(dim=1)
            values[start:end] = top.squeeze(1) + tau * exp_sum.log()  # V = tau logsumexp(Q / tau)
        q_taken = torch.where(valid, q_taken, torch.zeros_like(q_taken))
        ctx.save_for_backward(states, weight, bias, safe_targets, valid, values)
        ctx.settings = (illegal_at, bksp_id, tau, scale, chunk_size)
        return values, q_taken

    @staticmethod
    def backward(ctx, grad_values, grad_q):
        states, weight, bias, safe_targets, valid, values = ctx.saved_tensors
        illegal_at, bksp_id, tau, scale, chunk_size = ctx.settings
        head = LinearHead(weight, bias, scale)
        grad_states = torch.empty_like(states) if ctx.needs_input_grad[0] else None
        # a frozen head (LoRA elsewhere, or the head's weight not trained) costs no weight-gradient product
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        grad_bias = None
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device)
        grad_q = torch.where(valid, grad_q, torch.zeros_like(grad_q))
        for start in range(0, states.shape[0], chunk_size):
            end = min(start + chunk_size, states.shape[0])
            chunk = states[start:end]  # (C, H)
            logits = _chunk_logits(head, chunk, _rows_in(illegal_at, start, end), bksp_id)  # (C, V)
            # dV/dz = softmax(z / tau) = exp((z - V) / tau); masked entries: exp(-inf) = 0
            shifted = logits.sub_(values[start:end, None])
            grad = (shifted if tau == 1.0 else shifted.div_(tau)).exp_().mul_(grad_values[start:end, None])
            # dQ(s, a_t)/dz = onehot(a_t)
            grad.scatter_add_(1, safe_targets[start:end, None], grad_q[start:end, None])
            if scale != 1.0:
                grad.mul_(scale)  # (C, V) dL/d(hidden @ W.T + b)
            if grad_states is not None:
                grad_states[start:end] = grad.to(weight.dtype) @ weight
            if grad_weight is not None:
                grad_weight.addmm_(grad.T, chunk.float())  # (V, H), accumulated in float32
            if grad_bias is not None:
                grad_bias += grad.sum(dim=0)
        grad_weight = None if grad_weight is None else grad_weight.to(weight.dtype)
        grad_bias = None if grad_bias is None else grad_bias.to(bias.dtype)
        return grad_states, grad_weight, grad_bias, None, None, None, None, None, None


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
    zeros = torch.zeros(batch * seq_len, dtype=torch.float32, device=hidden.device)
    if flat.numel() == 0:  # no transition in the batch
        return zeros.view(batch, seq_len), zeros.view(batch, seq_len)
    if isinstance(head, LinearHead):
        values, q_taken = _LinearSoftQ.apply(
            states, head.weight, head.bias, chosen_targets, illegal_at, bksp_id, tau, head.scale, chunk_size
        )
    else:
        values, q_taken = _checkpointed_soft_q(
            states, head, chosen_targets, illegal, illegal_at, bksp_id, tau, chunk_size
        )
    values = zeros.index_copy(0, flat, values).view(batch, seq_len)
    q_taken = zeros.index_copy(0, flat, q_taken).view(batch, seq_len)
    return values, q_taken


def _checkpointed_soft_q(states, head, chosen_targets, illegal, illegal_at, bksp_id, tau, chunk_size):
    """(N,), (N,): the chunks of a general head, each checkpointed and reduced by ``legal_soft_q``."""
    value_parts, q_parts = [], []
    for start in range(0, states.shape[0], chunk_size):
        end = min(start + chunk_size, states.shape[0])
        rows = None
        if illegal is not None:
            rows = (torch.tensor(_rows_in(illegal_at, start, end), dtype=torch.long, device=states.device),)
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
    return torch.cat(value_parts), torch.cat(q_parts)


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
    if isinstance(head, LinearHead) and flat.numel() > 0:  # -log pi = V - Q(s, a) at tau = 1
        values, q_taken = _LinearSoftQ.apply(
            states, head.weight, head.bias, chosen, [], None, 1.0, head.scale, chunk_size
        )
        return (values - q_taken).sum(), torch.tensor(flat.numel(), device=hidden.device)
    for start in range(0, flat.numel(), chunk_size):
        total = total + _run(_chunk_nll, states[start : start + chunk_size], chosen[start : start + chunk_size], head)
    return total, torch.tensor(flat.numel(), device=hidden.device)
