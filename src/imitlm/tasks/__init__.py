"""Tasks: where training and evaluation rows come from (`prompt`/`completion` strings)."""

from __future__ import annotations

import datasets

from imitlm.tasks import arithmetic
from imitlm.tasks.text import load_raw_dataset, to_prompt_completion


def arithmetic_rows(split: str, num_examples: int, seed: int, difficulty: int) -> datasets.Dataset:
    problems = arithmetic.generate_problems(num_examples, split=split, seed=seed, difficulty=difficulty)
    return datasets.Dataset.from_dict(
        {"prompt": [p.prompt for p in problems], "completion": [p.completion for p in problems]}
    )


def load_task_rows(config, tokenizer=None) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """(train rows, evaluation rows or None) for the configured task."""
    if config.task == "arithmetic":
        train = arithmetic_rows("train", config.num_train_examples, config.task_seed, config.difficulty)
        evaluation = arithmetic_rows("validation", config.num_eval_examples, config.task_seed, config.difficulty)
        return train, evaluation
    raw = load_raw_dataset(config.dataset_name, config.dataset_train_split, config.dataset_config)
    train = to_prompt_completion(raw, tokenizer, source=config.dataset_name)
    evaluation = None
    if config.dataset_test_split:
        raw_eval = load_raw_dataset(config.dataset_name, config.dataset_test_split, config.dataset_config)
        evaluation = to_prompt_completion(
            raw_eval, tokenizer, source=f"{config.dataset_name}:{config.dataset_test_split}"
        )
    return train, evaluation
