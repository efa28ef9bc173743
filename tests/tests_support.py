"""Shared test utilities."""

import torch


def prefill_buffer(trainer, data, num_rows: int = 16, seed: int = 123) -> None:
    """Fill an online trainer's replay buffer with fixed samples from the initial model (no rollouts later)."""
    generator = torch.Generator().manual_seed(seed)
    prompts = [list(data[i]["prompt_ids"]) for i in range(num_rows)]
    from imitlm.rollout.buffer import collect_rollouts

    tokenizer = trainer.processing_class
    items, _ = collect_rollouts(
        trainer.model,
        prompts,
        bksp_id=trainer.bksp_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        max_new_tokens=6,
        temperature=1.0,
        generator=generator,
    )
    trainer.replay.add(items)
