"""Applying backspaces to action sequences: the tokens that survive.

What a `<bksp>` action does to the state: docs/design.md, "The MDP over sequences"."""

from __future__ import annotations


def apply_backspaces(actions: list[int], bksp_id: int) -> list[int]:
    """Reference: the tokens that survive a list of actions (token appends, `<bksp>` deletes).

    Example, with ``bksp_id = 9``::

        >>> apply_backspaces([5, 6, 7, 9, 8], bksp_id=9)
        [5, 6, 8]
        >>> apply_backspaces([5, 9, 9], bksp_id=9)
        Traceback (most recent call last):
        ...
        ValueError: <bksp> at action 2 deletes from an empty sequence

    Raises ValueError when a `<bksp>` would delete from an empty sequence (in the MDP it would
    delete a prompt token, which is illegal).
    """
    out: list[int] = []
    for i, a in enumerate(actions):
        if a == bksp_id:
            if not out:
                raise ValueError(f"<bksp> at action {i} deletes from an empty sequence")
            out.pop()
        else:
            out.append(a)
    return out
