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


def save_tiny_llama(path, extra_texts=()) -> str:
    """A 1-layer, 32-wide Llama with a 400-piece BPE tokenizer trained on `lee` (plus ``extra_texts``), saved to
    ``path`` like a pretrained model: the stand-in for SmolLM2 in the real-model code paths."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from imitlm.models.bpe_tokenizer import build_bpe_tokenizer
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows("lee", "train").select(range(200))
    tokenizer = build_bpe_tokenizer([r["prompt"] + r["completion"] for r in rows] + list(extra_texts), vocab_size=400)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
