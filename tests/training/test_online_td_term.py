"""`iqlearn_online` trains with its chi^2 term c E_Mr[r^2] on the mixture of data and policy rows (c > 0): a loss
without it (c = 0) is a different loss, by exactly c times the mixture's mean squared reward."""

import dataclasses

import torch

from imitlm.backspace.layout import target_counts
from imitlm.data.batches import concat_batches
from imitlm.objectives import get_preset, imitation_loss
from imitlm.training.loss_step import imitation_forward
from imitlm.training.trainer import ImitationTrainer

from reference.objectives_ref import imitation_loss_ref, random_batch
from training.helpers import tiny_config, tiny_setup


def test_iqlearn_online_objective_has_its_td_term_on_the_mixture():
    spec = get_preset("iqlearn_online").objective_spec()
    assert spec.td_weight > 0 and spec.use_mixture
    batch = random_batch(batch=6, seed=17, n_policy=2)
    loss, metrics = imitation_loss(**batch, spec=spec)
    settings = dict(gamma=spec.gamma, mix_beta=spec.mix_beta, il_weight=spec.il_weight, use_mixture=True)
    expected = imitation_loss_ref(**batch, td_weight=spec.td_weight, **settings)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    without = imitation_loss_ref(**batch, td_weight=0.0, **settings)
    # the policy rows' r^2 is in it: E_Mr = 0.9 E_D + 0.1 E_P
    offline_r2 = imitation_loss(**batch, spec=dataclasses.replace(spec, use_mixture=False))[1]["objective/reward_sq"]
    assert abs(float(metrics["objective/reward_sq"] - offline_r2)) > 1e-3
    torch.testing.assert_close(loss - without, spec.td_weight * metrics["objective/reward_sq"], rtol=1e-9, atol=1e-12)


def test_trainer_runs_iqlearn_online_with_its_td_term(tmp_path):
    """The trainer's loss on data + rollout rows: c E_Mr[r^2] more than the same step with c = 0."""
    config = tiny_config(tmp_path, objective="iqlearn_online")
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    c = get_preset("iqlearn_online").td_weight
    assert trainer.spec.td_weight == c > 0
    trainer.run_rollouts()
    policy = trainer.replay.sample_batch(3, torch.Generator().manual_seed(0), tokenizer.pad_token_id)
    batch = concat_batches(trainer.data_collator([data[i] for i in range(4)]), policy, tokenizer.pad_token_id)
    counts = target_counts(batch)
    assert counts[1] > 0  # policy transitions in the batch
    ids = dict(bksp_id=trainer.bksp_id, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch, num_items_in_batch=counts)
        _, metrics, _ = imitation_forward(model, batch, trainer.spec, counts, **ids)
        trainer.spec = dataclasses.replace(trainer.spec, td_weight=0.0)
        loss_without = trainer.compute_loss(model, batch, num_items_in_batch=counts)
    assert float(metrics["objective/reward_sq"]) > 0.1
    torch.testing.assert_close(loss - loss_without, c * metrics["objective/reward_sq"], rtol=1e-4, atol=1e-7)
