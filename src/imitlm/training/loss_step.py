"""The loss step shared by `ImitationTrainer.compute_loss` and `imitlm bench`: layout, one forward, the objective.

As TRL's trainers expose their loss as a function a test can call, the step is one function of (model, batch,
spec, counts); the Trainer adds only its bookkeeping around it (finiteness check, metric sums, DDP scaling).
"""

from __future__ import annotations

import torch

from imitlm.backspace.layout import make_layout
from imitlm.models import model_dtype
from imitlm.objectives import ObjectiveSpec, imitation_loss, mask_illegal_bksp


def imitation_forward(
    model,
    batch: dict[str, torch.Tensor],
    spec: ObjectiveSpec,
    counts: torch.Tensor,
    *,
    bksp_id: int | None,
    eos_id: int,
    pad_id: int,
):
    """``(loss, metrics, outputs)`` of one batch (DESIGN sec 3-4).

    Args:
        batch: a padded batch (``data.batches.pad_batch``: input_ids, prompt_lengths, lengths, noise_mask,
            is_policy), on the model's device.
        counts: (2,) GLOBAL (data, policy) target counts over the accumulation window and all ranks
            (``backspace.layout.target_counts`` summed), so micro-batches add up to the full-batch loss.
    """
    layout = make_layout(batch, bksp_id=bksp_id, eos_id=eos_id, pad_id=pad_id, dtype=model_dtype(model))
    outputs = model(**layout.model_inputs())
    # the policy that samples: no <bksp> where the state is the prompt (DESIGN sec 1)
    logits = mask_illegal_bksp(outputs.logits.float(), layout.bksp_illegal, bksp_id)  # (B, T, V)
    loss, metrics = imitation_loss(
        logits,
        layout.targets,
        layout.target_mask,
        layout.done,
        layout.next_index,
        batch["is_policy"],
        spec,
        num_data_tokens=counts[0].clamp(min=1),
        num_policy_tokens=counts[1],
    )
    return loss, metrics, outputs
