"""The trainer and the bench run one loss step (`training.loss_step.imitation_forward`): same loss on the same
batch, for every preset."""

import pytest
import torch

from imitlm.backspace.layout import target_counts
from imitlm.benchmarking.train_step import TrainCase, train_step
from imitlm.objectives import PRESETS, ramped
from imitlm.training.trainer import ImitationTrainer

from training.helpers import tiny_config, tiny_setup


@pytest.mark.parametrize("preset", list(PRESETS))
def test_trainer_and_bench_same_loss(tmp_path, preset):
    config = tiny_config(tmp_path, objective=preset)
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    batch = trainer.data_collator([data[i] for i in range(6)])
    if trainer.replay is not None:  # policy rows from a rollout of the model itself
        trainer.run_rollouts()
        from imitlm.data.batches import concat_batches

        batch = concat_batches(
            batch,
            trainer.replay.sample_batch(3, torch.Generator().manual_seed(0), tokenizer.pad_token_id),
            tokenizer.pad_token_id,
        )
    counts = target_counts(batch)
    torch.manual_seed(0)
    with torch.no_grad():
        trainer_loss = trainer.compute_loss(model, batch, num_items_in_batch=counts)
    case = TrainCase(
        name=preset,
        batch=batch,
        counts=counts,
        spec=trainer.spec,
        bksp_id=trainer.bksp_id,
        tokens=int(batch["lengths"].sum()),
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
    )
    bench_loss = train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), case, {})
    assert float(bench_loss) == pytest.approx(float(trainer_loss), abs=1e-6)
    assert torch.isfinite(trainer_loss)


def test_trainer_ramps_eta_and_c_after_the_mle_warmup(tmp_path):
    """--mle_warmup_steps 2 --il_ramp_steps 4: steps 0-1 plain MLE, steps 2-5 eta and c at 1/4 .. 4/4 of their
    values, then the full objective; compute_loss uses the step's objective."""
    config = tiny_config(tmp_path, objective="iqlearn", td_weight=1.0, mle_warmup_steps=2, il_ramp_steps=4, max_steps=8)
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    full = trainer.spec
    assert not trainer.spec_at(0).use_il and not trainer.spec_at(1).use_il
    assert trainer.spec_at(0).gamma == 1.0 and full.gamma == 0.998  # the warm-up is plain (undiscounted) MLE
    for step, fraction in [(2, 0.25), (3, 0.5), (5, 1.0), (9, 1.0)]:
        spec = trainer.spec_at(step)
        assert spec.use_il
        assert (spec.il_weight, spec.td_weight) == (full.il_weight * fraction, full.td_weight * fraction)

    batch = trainer.data_collator([data[i] for i in range(6)])
    counts = target_counts(batch)
    trainer.state.global_step = 3

    def bench_loss(spec):
        case = TrainCase(
            name="ramp", batch=batch, counts=counts, spec=spec, bksp_id=trainer.bksp_id,
            tokens=int(batch["lengths"].sum()), eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
        )  # fmt: skip
        return float(train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), case, {}))

    with torch.no_grad():
        trainer_loss = float(trainer.compute_loss(model, batch, num_items_in_batch=counts))
    assert trainer_loss == pytest.approx(bench_loss(ramped(full, 0.5)), abs=1e-6)
    assert abs(trainer_loss - bench_loss(full)) > 1e-3  # the ramp changes the loss at this step
