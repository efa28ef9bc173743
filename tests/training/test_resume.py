"""Stopping mid-run and resuming from the checkpoint ends with the same weights as an uninterrupted run,
rollout buffer and random states included."""

import pytest
import torch
from training.helpers import tiny_config, tiny_setup
from transformers import TrainerCallback

from imitlm.training.trainer import ImitationTrainer


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def make(tmp_path, name, preset):
    config = tiny_config(tmp_path / name, objective=preset, max_steps=6, save_strategy="steps", save_steps=3,
                         rollout_every=2)
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
