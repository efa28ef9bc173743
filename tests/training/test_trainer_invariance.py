"""One trainer, every preset: batch 8 x accumulation 1 == batch 2 x accumulation 4 (loss, grad norm, weights);
iqlearn with td_weight 0 trains exactly like mle."""

import pytest
import torch

from imitlm.objectives import PRESETS as REGISTRY
from imitlm.training.trainer import ImitationTrainer

from tests_support import prefill_buffer
from training.helpers import tiny_config, tiny_setup

PRESETS = list(REGISTRY)


def run(tmp_path, preset, batch_size, accumulation, **overrides):
    config = tiny_config(
        tmp_path / f"{preset}-{batch_size}",
        objective=preset,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        rollout_every=10**6,
        **overrides,
    )
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    if trainer.replay is not None:
        prefill_buffer(trainer, data)
    trainer.train()
    logs = [row for row in trainer.state.log_history if "loss" in row]
    return trainer.model, logs


@pytest.mark.parametrize("preset", PRESETS)
def test_batch_equals_accumulation(tmp_path, preset):
    model_a, logs_a = run(tmp_path, preset, batch_size=8, accumulation=1)
    model_b, logs_b = run(tmp_path, preset, batch_size=2, accumulation=4)
    assert len(logs_a) == len(logs_b) == 3
    for row_a, row_b in zip(logs_a, logs_b):
        assert row_a["loss"] == pytest.approx(row_b["loss"], rel=1e-5, abs=1e-6)
        assert row_a["grad_norm"] == pytest.approx(row_b["grad_norm"], rel=1e-4, abs=1e-6)
    for (name, a), (_, b) in zip(model_a.named_parameters(), model_b.named_parameters()):
        # atol: the attention key bias has a mathematically zero gradient (softmax is shift invariant), so Adam
        # divides float noise by its own size there; every other weight agrees to ~1e-7.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=5e-6, msg=name)


def test_iqlearn_without_td_term_is_mle(tmp_path):
    """chi2, offline, c = 0 is MLE exactly (docs/design.md, "Identities the tests prove"): -E_D[log pi] with E_D's
    gamma^t weights (plain MLE at gamma = 1), so the trained weights agree with the mle preset's at the same gamma."""
    model_mle, logs_mle = run(tmp_path, "mle", 8, 1, gamma=0.9)
    model_iq, logs_iq = run(tmp_path, "iqlearn", 8, 1, td_weight=0.0, gamma=0.9)
    for row_a, row_b in zip(logs_mle, logs_iq):
        assert row_a["loss"] == pytest.approx(row_b["loss"], rel=1e-5)
    for (name, a), (_, b) in zip(model_mle.named_parameters(), model_iq.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
