"""Prompt/completion strings -> token ids (`prompt_ids`, `completion_ids` ending in EOS).

Text is data, never actions: the literal text of a control token (`<eos>`, the pad token, `<bksp>`) in a prompt or a
completion is tokenised as ordinary characters, so data cannot end a sequence or delete a token by spelling the
token's name. In a completion (actions) no special token's name is read as the token; in a prompt the other special
tokens (a chat template's markers) keep their meaning.
"""

from __future__ import annotations

import logging
import re

import datasets

from imitlm.backspace.vocab import BKSP_TOKEN
from imitlm.data.progress import without_progress_bars
from imitlm.errors import UserError

logger = logging.getLogger(__name__)


def control_literals(tokenizer) -> list[str]:
    """The strings that name actions or padding: EOS, the pad token and `<bksp>` (longest first)."""
    names = {tokenizer.eos_token, tokenizer.pad_token, BKSP_TOKEN}
    return sorted((name for name in names if name), key=lambda name: (-len(name), name))


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` with control-token names read as characters: "a<eos>b" is never a, EOS, b."""
    literals = [name for name in control_literals(tokenizer) if name in text]
    if not literals:
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = []
    for piece in re.split("(" + "|".join(map(re.escape, literals)) + ")", text):
        if piece:
            split = piece in literals  # the name alone, spelled out by the tokenizer's ordinary vocabulary
            ids += tokenizer(piece, add_special_tokens=False, split_special_tokens=split)["input_ids"]
    return ids


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids, starting with BOS when the tokenizer has one (so an empty prompt is a valid first state)."""
    return encode_prompts(tokenizer, [prompt])[0]


def encode_prompts(tokenizer, prompts: list[str]) -> list[list[int]]:
    """`encode_prompt` of each prompt; those without a control-token name go through one batched tokenizer call."""
    literals = control_literals(tokenizer)
    plain = [i for i, prompt in enumerate(prompts) if prompt and not any(name in prompt for name in literals)]
    batch = tokenizer([prompts[i] for i in plain], add_special_tokens=False)["input_ids"] if plain else []
    ids = dict(zip(plain, batch))
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = []
    for i, prompt in enumerate(prompts):
        row = ids[i] if i in ids else encode_text(tokenizer, prompt) if prompt else []
        encoded.append(row if row and row[0] == bos else [bos] + row)
    return encoded


def encode_completion(tokenizer, completion: str) -> list[int]:
    """Completion ids followed by EOS (the terminal action). A completion is actions: no special token's name in
    it is read as that token (a chat template's markers belong to prompts)."""
    return encode_completions(tokenizer, [completion])[0]


def encode_completions(tokenizer, completions: list[str]) -> list[list[int]]:
    """`encode_completion` of each completion, in one batched tokenizer call."""
    if not completions:
        return []
    rows = tokenizer(list(completions), add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return [row + [tokenizer.eos_token_id] for row in rows]


@without_progress_bars
def tokenize_rows(rows: datasets.Dataset, tokenizer, max_length: int, source: str = "data") -> datasets.Dataset:
    """Add `prompt_ids` and `completion_ids` (+EOS); drop rows longer than `max_length` (logged)."""

    def encode(batch):
        prompt_ids = encode_prompts(tokenizer, batch["prompt"])
        return {"prompt_ids": prompt_ids, "completion_ids": encode_completions(tokenizer, batch["completion"])}

    encoded = rows.map(encode, batched=True, desc="tokenizing")
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
