"""Teacher-forced scoring of given completions: one layout and one forward per batch, shared by perplexity
(`evaluate.completion_nll`) and reward extraction (`rewards.score_rows`).

Both read the logits only through ``V(s_t)`` and ``Q(s_t, a_t)``, so they take them from the same chunked
reductions as training (`objectives.chunked_soft_q`): no (B, T, V) logits, and long sequences at large
vocabularies fit. A model without an output embedding, or whose logits `models.hidden_and_head` cannot reproduce,
is scored from its full logits by the same `legal_soft_q`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from imitlm.backspace.layout import Layout, make_layout
from imitlm.data.batches import pad_batch
from imitlm.data.encode import encode_completions, encode_prompts
from imitlm.errors import UserError
from imitlm.models import bksp_id_of, hidden_and_head, model_dtype
from imitlm.objectives import chunked_soft_q, default_chunk_size, legal_soft_q
from imitlm.rollout.generate import policy_tau


def on_device(layout: Layout, device) -> Layout:
    """``layout`` with every tensor on ``device``."""
    moved = {
        field.name: getattr(layout, field.name).to(device)
        for field in dataclasses.fields(layout)
        if isinstance(getattr(layout, field.name), torch.Tensor)
    }
    return dataclasses.replace(layout, **moved)


@torch.no_grad()
def soft_q_of(model, layout: Layout, bksp_id: int | None, tau: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, q_taken)`` (B, T) float32 of a layout over the legal actions (no `<bksp>` where the state is the
    prompt, as in training and sampling): chunk by chunk from the final hidden states where possible."""
    inputs = layout.model_inputs()
    head_module = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head_module is not None:
        try:
            _, hidden, head = hidden_and_head(model, inputs)
        except UserError:  # logits the head alone does not reproduce: score the full logits below
            pass
        else:
            chunk = default_chunk_size(head_module.weight.shape[0])
            args = (layout.targets, layout.next_index, layout.done, layout.bksp_illegal, bksp_id, tau, chunk)
            return chunked_soft_q(hidden, head, *args)
    logits = model(**inputs).logits.float()  # (B, T, V)
    return legal_soft_q(logits, layout.targets, layout.bksp_illegal, bksp_id, tau)


@torch.no_grad()
def teacher_forced(
    model, tokenizer, prompts: list[str], completions: list[str], batch_size: int, tau: float | None = None
) -> Iterator[tuple[int, list[list[int]], Layout, torch.Tensor, torch.Tensor]]:
    """Yield ``(start, actions, layout, values, q_taken)`` for each batch of rows ``start .. start + len(actions)``.

    ``actions`` are the completion ids + EOS of each row; ``values`` (B, T) ``V(s_t) = tau logsumexp(Q(s_t, .) /
    tau)`` and ``q_taken`` (B, T) ``Q(s_t, a_t)`` in float32 over the legal actions (`soft_q_of`); ``tau`` None:
    the model's own (``rollout.generate.policy_tau``), the temperature of the policy it was trained as.
    """
    tau = policy_tau(model) if tau is None else tau
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    bksp = bksp_id_of(model)
    for start in range(0, len(prompts), batch_size):
        prompt_ids = encode_prompts(tokenizer, list(prompts[start : start + batch_size]))
        actions = encode_completions(tokenizer, list(completions[start : start + batch_size]))
        batch = pad_batch(prompt_ids, actions, pad)
        layout = make_layout(batch, bksp_id=bksp, eos_id=eos, pad_id=pad, dtype=model_dtype(model))
        layout = on_device(layout, next(model.parameters()).device)  # forward and reductions on the model's device
        values, q_taken = soft_q_of(model, layout, bksp, tau)
        yield start, actions, layout, values, q_taken
