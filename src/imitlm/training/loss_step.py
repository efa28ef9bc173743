"""The loss step shared by `ImitationTrainer.compute_loss` and `imitlm bench`: layout, one forward, the objective.

As TRL's trainers expose their loss as a function a test can call, the step is one function of (model, batch,
spec, counts); the Trainer adds only its bookkeeping around it (finiteness check, metric sums, DDP scaling).
"""

from __future__ import annotations

import torch

from imitlm.backspace.layout import make_layout
from imitlm.models import hidden_and_head, model_dtype
from imitlm.objectives import ObjectiveSpec, chunked_soft_q, imitation_loss_from_values, legal_soft_q


def imitation_forward(
    model,
    batch: dict[str, torch.Tensor],
    spec: ObjectiveSpec,
    counts: torch.Tensor,
    *,
    bksp_id: int | None,
    eos_id: int,
    pad_id: int,
    chunk_size: int | None = None,
    bksp_head_only: bool = False,
):
    """``(loss, metrics, outputs)`` of one batch (docs/design.md, "The `<bksp>` layout", "The one objective").

    Args:
        batch: a padded batch (``data.batches.pad_batch``: input_ids, prompt_lengths, lengths, noise_mask,
            is_policy), on the model's device.
        counts: (4,) GLOBAL (data, policy) target counts and (data, policy) row counts over the accumulation window
            and all ranks (``backspace.layout.target_counts`` summed), so micro-batches add up to the full-batch loss.
        chunk_size: None: the model computes the (B, T, V) logits. A number: the chunked path
            (``objectives.chunked``): the model's forward keeps the head's input and computes logits at the last
            position only (``outputs.logits`` (B, 1, V)), and V(s), Q(s, a_t) are reduced ``chunk_size`` positions
            at a time; the loss, metrics and gradients are the same.
        bksp_head_only: the transitions whose action is `<bksp>` read the final hidden state detached, so they
            train the `<bksp>` output row only, never the network below it (docs/bksp_pretrained.md). The loss value
            is unchanged.
    """
    layout = make_layout(batch, bksp_id=bksp_id, eos_id=eos_id, pad_id=pad_id, dtype=model_dtype(model))
    detach = bksp_head_only and bksp_id is not None
    if chunk_size is None and not detach:
        outputs = model(**layout.model_inputs())
        # over the legal actions, as the policy samples: no <bksp> where the state is the prompt (docs/design.md)
        values, q_taken = legal_soft_q(
            outputs.logits.float(), layout.targets, layout.bksp_illegal, bksp_id, spec.tau
        )  # (B, T), (B, T)
    else:
        outputs, hidden, head = hidden_and_head(model, layout.model_inputs())  # hidden (B, T, H)
        if detach:
            hidden = torch.where((layout.targets == bksp_id).unsqueeze(-1), hidden.detach(), hidden)
        if chunk_size is None:
            logits = head(hidden).float()  # (B, T, V)
            values, q_taken = legal_soft_q(logits, layout.targets, layout.bksp_illegal, bksp_id, spec.tau)
        else:
            values, q_taken = chunked_soft_q(
                hidden,
                head,
                layout.targets,
                layout.next_index,
                layout.done,
                layout.bksp_illegal,
                bksp_id,
                spec.tau,
                chunk_size,
            )
    loss, metrics = imitation_loss_from_values(
        values,
        q_taken,
        layout.targets,
        layout.target_mask,
        layout.done,
        layout.next_index,
        batch["is_policy"],
        spec,
        num_data_tokens=counts[0].clamp(min=1),
        num_policy_tokens=counts[1],
        num_data_rows=counts[2],
        num_policy_rows=counts[3],
    )
    return loss, metrics, outputs
