"""The trainer and the bench run one loss step (`training.loss_step.imitation_forward`): same loss on the same
batch, for every preset."""

import pytest
import torch

from imitlm.backspace.layout import target_counts
from imitlm.benchmarking.train_step import TrainCase, train_step
from imitlm.objectives import PRESETS
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
