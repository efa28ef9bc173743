"""Checks of user data and lengths; each failure is one `UserError` line. `limit` is the model's maximum length
(`models.model_max_length`), None when it has none."""

from __future__ import annotations

import logging
from collections import Counter

from imitlm.errors import UserError

logger = logging.getLogger(__name__)


def check_max_length(max_length: int, limit: int | None) -> None:
    if limit is not None and max_length > limit:
        raise UserError(
            f"max_length={max_length} exceeds the model's maximum length {limit}; set --max_length {limit} or less"
        )


def check_prompt_lengths(prompt_lengths: list[int], limit: int | None) -> None:
    if limit is None:
        return
    longest = max(prompt_lengths, default=0)
    if longest >= limit:
        raise UserError(f"a prompt is {longest} tokens, but the model's maximum length is {limit}; shorten the prompt")


def check_backspace_rows(dataset, bksp_id: int, source: str = "training data") -> None:
    """A `<bksp>` may only delete completion tokens (docs/design.md, "The MDP over sequences"): reject rows where it
    would reach the prompt."""
    for index, row in enumerate(dataset):
        if bksp_id in row["prompt_ids"]:
            raise UserError(f"{source}: row {index} has <bksp> in its prompt; backspaces belong in completions only")
        depth = 0
        for position, token in enumerate(row["completion_ids"]):
            depth += -1 if token == bksp_id else 1
            if depth < 0:
                raise UserError(
                    f"{source}: row {index} has a <bksp> at completion position {position} that would "
                    "delete a prompt token; remove it or add the token it deletes"
                )


def unknown_characters(texts, tokenizer) -> Counter:
    """Characters of ``texts`` that the tokenizer can only map to its unknown token, with their counts. A tokenizer
    without an unknown token (byte-level BPE) knows every character."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return Counter()
    counts = Counter()
    for text in texts:
        counts.update(text)
    unknown = Counter()
    for char, count in counts.items():
        if unk in tokenizer(char, add_special_tokens=False)["input_ids"]:
            unknown[char] = count
    return unknown


def describe_unknown(unknown: Counter, source: str) -> str:
    shown = ", ".join(f"{char!r} ({count}x)" for char, count in unknown.most_common(8))
    more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
    return f"{source} holds characters the tokenizer does not know: {shown}{more}; they become its unknown token"


def check_known_characters(texts, tokenizer, source: str, allow: bool = True, consequence: str = "") -> None:
    """Warn once (one line) about characters that would become `<unk>`; refuse them unless ``allow``."""
    unknown = unknown_characters(texts, tokenizer)
    if not unknown:
        return
    message = describe_unknown(unknown, source)
    if not allow:
        raise UserError(f"{message}; pass --allow_unknown_chars to train anyway, or use a tokenizer that has them")
    logger.warning("%s%s", message, consequence)


def note_control_names(texts, tokenizer, source: str) -> None:
    """Say (one line) when data spells a control token's name: it is read as text (`data.encode`), never as the
    action, which may not be what the writer of the data meant."""
    from imitlm.data.encode import control_literals

    counts = {name: sum(text.count(name) for text in texts) for name in control_literals(tokenizer)}
    spelled = ", ".join(f"{name!r} ({count}x)" for name, count in counts.items() if count)
    if spelled:
        logger.warning("%s spells %s: read as plain text, never as that token's action", source, spelled)


def check_text(texts, tokenizer, source: str, allow_unknown: bool = True, consequence: str = "") -> None:
    """The checks of text a command reads: unknown characters, then control-token names spelled in it."""
    texts = list(texts)
    check_known_characters(texts, tokenizer, source, allow=allow_unknown, consequence=consequence)
    note_control_names(texts, tokenizer, source)
