"""Teacher-forced scoring of given completions: one layout and one forward per batch, shared by perplexity
(`evaluate.completion_nll`) and reward extraction (`rewards.score_rows`)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from imitlm.backspace.layout import Layout, make_layout
from imitlm.data.batches import pad_batch
from imitlm.data.encode import encode_completion, encode_prompt
from imitlm.models import bksp_id_of, model_dtype
from imitlm.objectives import mask_illegal_bksp


@torch.no_grad()
def teacher_forced(
    model, tokenizer, prompts: list[str], completions: list[str], batch_size: int
) -> Iterator[tuple[int, list[list[int]], Layout, torch.Tensor]]:
    """Yield ``(start, actions, layout, logits)`` for each batch of rows ``start .. start + len(actions)``.

    ``actions`` are the completion ids + EOS of each row; ``logits`` (B, T, V) in float32 read as Q(s_t, .), with
    the illegal `<bksp>` masked to -inf.
    """
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    bksp = bksp_id_of(model)
    for start in range(0, len(prompts), batch_size):
        prompt_ids = [encode_prompt(tokenizer, p) for p in prompts[start : start + batch_size]]
        actions = [encode_completion(tokenizer, c) for c in completions[start : start + batch_size]]
        batch = pad_batch(prompt_ids, actions, pad)
        layout = make_layout(batch, bksp_id=bksp, eos_id=eos, pad_id=pad, dtype=model_dtype(model))
        # V, log pi and r over the legal actions, as in training and sampling: no <bksp> at the prompt
        inputs = {name: tensor.to(model.device) for name, tensor in layout.model_inputs().items()}
        logits = model(**inputs).logits.float().to(layout.targets.device)  # forward on the model's device
        logits = mask_illegal_bksp(logits, layout.bksp_illegal, bksp)  # (B, T, V)
        yield start, actions, layout, logits
