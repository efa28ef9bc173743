"""Stopping mid-run and resuming from the checkpoint ends with the same weights as an uninterrupted run,
rollout buffer and random states included."""

import pytest
import torch
from transformers import TrainerCallback

from imitlm.training.trainer import ImitationTrainer

from training.helpers import tiny_config, tiny_setup


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def make(tmp_path, name, preset):
    config = tiny_config(
        tmp_path / name, objective=preset, max_steps=6, save_strategy="steps", save_steps=3, rollout_every=2
    )
    model, tokenizer, data = tiny_setup(config)
    return ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)


@pytest.mark.parametrize("preset", ["mle_bksp", "sequencematch"])
def test_resume_matches_uninterrupted(tmp_path, preset):
    straight = make(tmp_path, "straight", preset)
    straight.train()

    first = make(tmp_path, "resumed", preset)
    first.add_callback(StopAt(3))
    first.train()
    assert first.state.global_step == 3
    checkpoint = str(tmp_path / "resumed" / "out" / "checkpoint-3")
    second = make(tmp_path, "resumed", preset)
    second.train(resume_from_checkpoint=checkpoint)
    assert second.state.global_step == 6
    if straight.replay is not None:
        assert second.replay.items == straight.replay.items
    for (name, a), (_, b) in zip(straight.model.named_parameters(), second.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


class EpochsSeen(TrainerCallback):
    """The collator's epoch at each epoch's start (after the trainer's own callback has set it)."""

    def __init__(self, collator):
        self.collator = collator
        self.epochs = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epochs.append(self.collator.epoch)


def test_resume_mid_epoch_keeps_the_epoch_of_the_noise(tmp_path):
    """16 rows / batch 8: 2 steps per epoch, so the run stops in epoch 1 and resumes there with epoch-1 noise."""

    def make_epochs(name):
        config = tiny_config(
            tmp_path / name,
            objective="mle_bksp",
            noise_prob=0.3,
            num_train_examples=16,
            max_steps=6,
            save_strategy="steps",
            save_steps=3,
        )
        model, tokenizer, data = tiny_setup(config)
        trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
        seen = EpochsSeen(trainer.data_collator)
        trainer.add_callback(seen)
        return trainer, seen

    straight, seen = make_epochs("straight")
    straight.train()
    assert seen.epochs == [0, 1, 2]
    first, _ = make_epochs("resumed")
    first.add_callback(StopAt(3))
    first.train()
    second, seen_resumed = make_epochs("resumed")
    second.train(resume_from_checkpoint=str(tmp_path / "resumed" / "out" / "checkpoint-3"))
    assert seen_resumed.epochs == [1, 2]
    for (name, a), (_, b) in zip(straight.model.named_parameters(), second.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
