"""Prompt/completion strings -> token ids (`prompt_ids`, `completion_ids` ending in EOS)."""

from __future__ import annotations

import logging

import datasets

from imitlm.errors import UserError

logger = logging.getLogger(__name__)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids, starting with BOS when the tokenizer has one (so an empty prompt is a valid first state)."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if not ids or ids[0] != bos:
        ids = [bos] + ids
    return ids


def encode_completion(tokenizer, completion: str) -> list[int]:
    """Completion ids followed by EOS (the terminal action)."""
    return tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def tokenize_rows(rows: datasets.Dataset, tokenizer, max_length: int, source: str = "data") -> datasets.Dataset:
    """Add `prompt_ids` and `completion_ids` (+EOS); drop rows longer than `max_length` (logged)."""

    def encode(row):
        prompt_ids = encode_prompt(tokenizer, row["prompt"])
        completion_ids = encode_completion(tokenizer, row["completion"])
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids}

    encoded = rows.map(encode, desc="tokenizing")
    kept = encoded.filter(lambda row: len(row["prompt_ids"]) + len(row["completion_ids"]) <= max_length)
    if len(kept) == 0:
        raise UserError(f"every row of {source} is longer than max_length={max_length} tokens; raise --max_length")
    if len(kept) < len(encoded):
        logger.warning(
            "dropped %d of %d rows of %s longer than max_length=%d",
            len(encoded) - len(kept),
            len(encoded),
            source,
            max_length,
        )
    return kept.add_column("example_index", list(range(len(kept))))
