"""Showing a generated trace with its deletions (used by ``imitlm generate``)."""

from __future__ import annotations

from collections.abc import Sequence

_STRIKE_RED = "\x1b[9;31m"  # strikethrough + red
_RESET = "\x1b[0m"


def format_trace(tokens_as_strings: Sequence[str], bksp_index: Sequence[bool] | str, color: bool = True) -> str:
    """Render a trace of actions, deleted tokens struck through, `<bksp>` actions hidden.

    Args:
        tokens_as_strings: the actions, one string each (the `<bksp>` actions included).
        bksp_index: which actions are `<bksp>`: a per-action bool sequence, or the `<bksp>`
            string (actions equal to it are backspaces).
        color: ANSI strikethrough in red; otherwise deleted tokens are written ``~~x~~``.

    Example (no color)::

        >>> format_trace(["a", "b", "X", "<bksp>", "c"], "<bksp>", color=False)
        'ab~~X~~c'

    A deleted token is shown where it was written, so the reader sees the mistake and the fix.
    """
    if isinstance(bksp_index, str):
        is_bksp = [t == bksp_index for t in tokens_as_strings]
    else:
        is_bksp = [bool(x) for x in bksp_index]
    if len(is_bksp) != len(tokens_as_strings):
        raise ValueError("bksp_index must have one entry per token")
    deleted = [False] * len(tokens_as_strings)
    stack: list[int] = []
    for i, b in enumerate(is_bksp):
        if b:
            if stack:
                deleted[stack.pop()] = True
        else:
            stack.append(i)
    parts = []
    for tok, b, d in zip(tokens_as_strings, is_bksp, deleted):
        if b:
            continue
        if d:
            parts.append(f"{_STRIKE_RED}{tok}{_RESET}" if color else f"~~{tok}~~")
        else:
            parts.append(tok)
    return "".join(parts)


def trace_of(tokenizer, actions: Sequence[int], bksp_id: int | None, color: bool = True) -> str:
    """``format_trace`` of token ids, each action shown as the text it writes: one decode per id, so a byte-level
    BPE's "Ġthe" reads " the" (a token that is part of a multi-byte character shows as U+FFFD)."""
    strings = [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in actions]
    return format_trace(strings, [i == bksp_id for i in actions], color=color)
