"""Applying backspaces to action sequences: the list reference and its vectorised batch form.

What a `<bksp>` action does to the state: docs/design.md, "The MDP over sequences"."""

from __future__ import annotations

import torch


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


def apply_backspaces_batch(
    actions: torch.Tensor, lengths: torch.Tensor, *, bksp_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised :func:`apply_backspaces` for a right-padded batch.

    Args:
        actions: (B, T) long, right-padded.
        lengths: (B,) number of valid actions per row.

    Returns ``(tokens, new_lengths)``: (B, T) right-padded with ``pad_id`` and (B,).

    Example (``bksp_id = 9``, ``pad_id = 0``)::

        actions = [[5, 6, 9, 7], [5, 9, 6, 0]], lengths = [4, 3]
        tokens  = [[5, 7, 0, 0], [6, 0, 0, 0]], new_lengths = [2, 1]

    A token at s survives iff the depth never drops below its own depth afterwards.
    """
    B, T = actions.shape
    ar = torch.arange(T, device=actions.device)
    valid = ar[None, :] < lengths[:, None]  # (B, T)
    is_bksp = valid & (actions == bksp_id)
    step = torch.where(is_bksp, -1, 1).masked_fill(~valid, 0)
    depth = step.cumsum(1)  # (B, T) stack size after step t
    bad = valid & (depth < 0)
    if bad.any():
        b, t = (int(x) for x in bad.nonzero()[0])
        raise ValueError(f"row {b}: <bksp> at action {t} deletes from an empty sequence")
    big = T + 1
    # suffix_min[s] = min over u > s of depth[u] (pads do not count)
    d_valid = depth.masked_fill(~valid, big)
    suffix = torch.flip(torch.cummin(torch.flip(d_valid, [1]), 1).values, [1])  # min over u >= s
    suffix_after = torch.cat([suffix[:, 1:], suffix.new_full((B, 1), big)], 1)
    survive = valid & ~is_bksp & (suffix_after >= depth)  # (B, T)
    new_lengths = torch.where(lengths > 0, depth.gather(1, (lengths - 1).clamp(min=0)[:, None])[:, 0], 0)
    out = torch.full_like(actions, pad_id)
    b_idx, s_idx = survive.nonzero(as_tuple=True)
    out[b_idx, depth[b_idx, s_idx] - 1] = actions[b_idx, s_idx]
    return out, new_lengths
