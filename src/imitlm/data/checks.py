"""Checks of user data and lengths; each failure is one `UserError` line. `limit` is the model's maximum length
(`models.model_max_length`), None when it has none."""

from __future__ import annotations

from imitlm.errors import UserError


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
    """A `<bksp>` may only delete completion tokens (DESIGN sec 1): reject rows where it would reach the prompt."""
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
