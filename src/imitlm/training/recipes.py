"""Built-in recipes as config dicts: the tiny arithmetic model from scratch and its continuation with a preset.

Shared by `imitlm demo` and `imitlm bench` (its online wall-clock runs), so both train the same model the same way.
"""

from __future__ import annotations

from pathlib import Path

from imitlm.objectives import BASELINE

# A 2-layer GPT-2 on the arithmetic task's character tokenizer; no dropout (runs are deterministic on CPU).
TINY_GPT2 = {
    "model_type": "gpt2",
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 128,
    "n_positions": 128,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "activation_function": "gelu_pytorch_tanh",  # GPT-2's gelu_new as one fused kernel: same function, ~25% faster step
}
# A 4-layer, 128-wide Llama (RoPE): 0.854 greedy validation accuracy at difficulty 0 after 2,500 steps against
# TINY_GPT2's 0.300 (one base each, same recipe; docs/results.md); `imitlm demo --full` uses it.
TINY_LLAMA = {
    "model_type": "llama",
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "hidden_size": 128,
    "intermediate_size": 512,
    "max_position_embeddings": 128,
}
# The same Llama with 2 layers: 0.65 greedy validation accuracy after 2,500 steps, the mid-range base of the
# arithmetic study (docs/results.md 3d-3h).
TINY_LLAMA_2LAYER = {**TINY_LLAMA, "num_hidden_layers": 2}


def arithmetic_from_scratch(
    output_dir: str | Path,
    *,
    steps: int,
    batch_size: int,
    num_train_examples: int,
    difficulty: int = 0,
    model_config: dict | None = None,
    seed: int = 0,
) -> dict:
    """MLE from a fresh model on arithmetic: learning rate 1e-3, cosine schedule, short warm-up."""
    return {
        "task": "arithmetic",
        "difficulty": difficulty,
        "num_train_examples": num_train_examples,
        "num_eval_examples": 16,
        "max_length": 64,
        "model_config": model_config or TINY_GPT2,
        "objective": BASELINE,
        "output_dir": str(output_dir),
        "use_cpu": True,
        "per_device_train_batch_size": batch_size,
        **from_scratch_schedule(steps, seed),
        "disable_tqdm": False,
    }


def from_scratch_schedule(steps: int, seed: int) -> dict:
    """The optimiser schedule of every MLE-from-scratch recipe: lr 1e-3, cosine, short warm-up, no checkpoints."""
    return {
        "learning_rate": 1e-3,
        "lr_scheduler_type": "cosine",
        "warmup_steps": min(50, steps // 5),
        "weight_decay": 0.01,
        "max_steps": steps,
        "logging_steps": max(steps // 30, 1),
        "save_strategy": "no",
        "seed": seed,
        "report_to": "none",
        "overwrite_output_dir": True,
    }


def continue_with_preset(
    base: dict,
    base_dir: str | Path,
    output_dir: str | Path,
    preset: str,
    *,
    steps: int,
    rollout_every: int,
    rollout_batch_size: int,
    seed: int = 1,
    learning_rate: float = 3e-4,
) -> dict:
    """A preset continuing from the model saved in ``base_dir`` (trained with the ``base`` recipe)."""
    return {
        **base,
        "model_name_or_path": str(base_dir),
        "model_config": None,
        "objective": preset,
        "output_dir": str(output_dir),
        "learning_rate": learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "max_steps": steps,
        "logging_steps": max(steps // 20, 1),
        "rollout_every": rollout_every,
        "rollout_batch_size": rollout_batch_size,
        "max_new_tokens": 16,
        "seed": seed,
    }
