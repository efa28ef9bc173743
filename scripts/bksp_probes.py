"""Diagnostic switches for scripts/bksp_pretrained.py (experiments only; not imitlm options). Each isolates one way the
`<bksp>` targets could reach the ordinary-token distribution:

- ``bksp_target_weight=0``: noise is inserted and deleted in the layout as usual, but the `<bksp>` targets are not
  trained (their target mask is 0): is it learning `<bksp>`, or the noisy layout itself?
- ``bksp_detach_hidden=1``: at positions whose target is `<bksp>` the final hidden state is detached, so those
  targets train the `<bksp>` embedding row only, never the adapters (nor what they share with clean positions).
- ``bksp_row_lr=X``: the learning rate of the trainable `<bksp>` embedding row (peft's trainable_tokens_delta);
  the adapters keep --learning_rate.
"""

from __future__ import annotations

import torch

PROBES = ("bksp_target_weight", "bksp_detach_hidden", "bksp_row_lr")


def install(probes: dict) -> None:
    import imitlm.training.loss_step as loss_step
    import imitlm.training.trainer as trainer_module

    state = {}
    make_layout, hidden_and_head = loss_step.make_layout, loss_step.hidden_and_head

    def patched_layout(batch, *, bksp_id, **kwargs):
        layout = make_layout(batch, bksp_id=bksp_id, **kwargs)
        state["bksp_targets"] = layout.targets == bksp_id  # (B, T)
        if probes.get("bksp_target_weight") == 0:
            layout.target_mask = layout.target_mask & ~state["bksp_targets"]
        return layout

    def patched_hidden(model, inputs, check=True):
        outputs, hidden, head = hidden_and_head(model, inputs, check)
        if probes.get("bksp_detach_hidden"):
            keep = state["bksp_targets"].unsqueeze(-1)  # (B, T, 1)
            hidden = torch.where(keep, hidden.detach(), hidden)
        return outputs, hidden, head

    loss_step.make_layout, loss_step.hidden_and_head = patched_layout, patched_hidden
    if "bksp_row_lr" in probes:
        create_optimizer = trainer_module.ImitationTrainer.create_optimizer

        def patched_create_optimizer(self, model=None):
            optimizer = create_optimizer(self, model)
            row = [p for n, p in self.model.named_parameters() if "trainable_tokens_delta" in n and p.requires_grad]
            ids = {id(p) for p in row}
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in ids]
            optimizer.add_param_group({"params": row, "lr": probes["bksp_row_lr"], "weight_decay": 0.0})
            return optimizer

        trainer_module.ImitationTrainer.create_optimizer = patched_create_optimizer
