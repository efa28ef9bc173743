"""`imitlm evaluate`: generate completions for held-out prompts and score them."""

from __future__ import annotations

import datasets

from imitlm.errors import UserError
from imitlm.evaluation.generation import forced_error_samples, generate_samples
from imitlm.evaluation.metrics import accuracy, perplexity
from imitlm.evaluation.scoring import teacher_forced

# evaluation/rewards.py imports the JSON helper from here under its former name; `imitlm.jsonfiles` is its home
from imitlm.jsonfiles import json_safe as finite  # noqa: F401
from imitlm.models import bksp_id_of
from imitlm.objectives import log_policy_of
from imitlm.rollout.generate import policy_tau
from imitlm.tasks import arithmetic_rows
from imitlm.tasks.text import load_raw_dataset, to_prompt_completion


def load_eval_rows(
    task: str | None, data: str | None, split: str, num_examples: int, seed: int, difficulty: int, tokenizer=None
) -> datasets.Dataset:
    if data is not None:
        raw = load_raw_dataset(data)
        if "text" in raw.column_names and not {"prompt", "completion"} <= set(raw.column_names):
            raise UserError(
                f"{data} holds plain `text` rows, which have no reference answer to score accuracy against; "
                "evaluate them with --task text (perplexity, diversity, MAUVE)"
            )
        rows = to_prompt_completion(raw, tokenizer, source=data)
    elif task == "arithmetic":
        rows = arithmetic_rows(split, num_examples, seed, difficulty)
    else:
        raise UserError("say what to evaluate on: --task arithmetic, or --data FILE.jsonl with prompt/completion rows")
    return rows.select(range(min(num_examples, len(rows)))) if num_examples else rows


def completion_nll(model, tokenizer, rows, batch_size: int = 64) -> tuple[float, int]:
    """Summed negative log-likelihood of the reference completions (+EOS) under the trained policy
    ``softmax(Q / tau)`` (the model's saved tau), and their token count."""
    total, count = 0.0, 0
    for _, _, layout, values, q_taken in teacher_forced(
        model, tokenizer, list(rows["prompt"]), list(rows["completion"]), batch_size
    ):
        picked = log_policy_of(q_taken, values, layout.targets, policy_tau(model))  # (B, T) log pi(a_t | s_t)
        total -= float(picked[layout.target_mask].sum())
        count += int(layout.target_mask.sum())
    return total, count


def evaluate(
    model,
    tokenizer,
    rows,
    *,
    max_new_tokens: int = 32,
    batch_size: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    force_prob: float = 0.0,
    force_token_ids=None,
) -> dict:
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    samples = generate_samples(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        do_sample=do_sample,
        temperature=temperature,
        seed=seed,
        force_prob=force_prob,
        force_token_ids=force_token_ids,
    )
    bksp = bksp_id_of(model)
    num_actions = sum(len(s.actions) for s in samples)
    nll, tokens = completion_nll(model, tokenizer, rows, batch_size)
    return {
        "accuracy": accuracy([s.text for s in samples], references),
        "num_examples": len(samples),
        "perplexity": perplexity(nll, tokens),
        "backspace_rate": sum(s.num_backspaces(bksp) for s in samples) / max(num_actions, 1),
        "finished_rate": sum(s.finished for s in samples) / max(len(samples), 1),
        "samples": [{"prompt": s.prompt, "text": s.text, "reference": r} for s, r in zip(samples[:20], references)],
    }


def forced_error_accuracies(
    model, tokenizer, rows, rates, *, max_new_tokens: int = 32, batch_size: int = 64
) -> dict[str, float]:
    """``accuracy_forced_RATE`` for each rate: greedy accuracy when each action is a forced error with that
    probability (the demo's headline metric, the same generations)."""
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    result = {}
    for rate in rates:
        samples = forced_error_samples(
            model, tokenizer, prompts, rate, max_new_tokens=max_new_tokens, batch_size=batch_size
        )
        result[f"accuracy_forced_{rate}"] = accuracy([s.text for s in samples], references)
    return result
