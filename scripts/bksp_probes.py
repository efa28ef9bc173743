"""Diagnostic switches for scripts/bksp_pretrained.py (experiments only; not imitlm options). Each isolates one way the
`<bksp>` targets could reach the ordinary-token distribution:

- ``bksp_target_weight=0``: noise is inserted and deleted in the layout as usual, but the `<bksp>` targets are not
  trained (their target mask is 0): is it learning `<bksp>`, or the noisy layout itself?
- ``bksp_detach_hidden=1``: at positions whose target is `<bksp>` the final hidden state is detached, so those
  targets train the `<bksp>` embedding row only, never the adapters. Now the option ``--bksp_head_only``.
- ``bksp_row_lr=X``: the learning rate of the trainable `<bksp>` embedding row (peft's trainable_tokens_delta);
  the adapters keep --learning_rate. Now the option ``--bksp_learning_rate``.

The two that became options are mapped onto them (`as_options`), so the experiments and the product share one code
path; only ``bksp_target_weight`` is patched in here.
"""

from __future__ import annotations

PROBES = ("bksp_target_weight",)
AS_OPTIONS = {"bksp_detach_hidden": "bksp_head_only", "bksp_row_lr": "bksp_learning_rate"}


def as_options(overrides: dict) -> dict:
    """Round 1's switch names as the options they became."""
    return {AS_OPTIONS.get(key, key): value for key, value in overrides.items()}


def install(probes: dict) -> None:
    import imitlm.training.loss_step as loss_step

    make_layout = loss_step.make_layout

    def patched_layout(batch, *, bksp_id, **kwargs):
        layout = make_layout(batch, bksp_id=bksp_id, **kwargs)
        if probes.get("bksp_target_weight") == 0:
            layout.target_mask = layout.target_mask & (layout.targets != bksp_id)
        return layout

    loss_step.make_layout = patched_layout
