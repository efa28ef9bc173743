"""Facts read off a model: its `<bksp>` id, the dtype of its weights, the longest sequence its positions allow."""

from __future__ import annotations

import torch

from imitlm.errors import UserError


def bksp_id_of(model_or_config, required: bool = False) -> int | None:
    """The `<bksp>` id recorded in the config by `add_backspace_token` (model, PEFT model or config), or None.

    ``required``: raise ValueError when the model has no `<bksp>`.
    """
    config = getattr(model_or_config, "config", model_or_config)
    bksp_id = getattr(config, "bksp_token_id", None)
    if bksp_id is None and required:
        raise ValueError("no bksp_token_id in the model config; call add_backspace_token(tokenizer, model) first")
    return None if bksp_id is None else int(bksp_id)


def model_dtype(model) -> torch.dtype:
    """The dtype of the model's floating-point weights (the 4D additive mask must match it)."""
    return next(p.dtype for p in model.parameters() if p.is_floating_point())


def model_max_length(model) -> int | None:
    """The longest sequence the model's positions allow, or None when the architecture has no limit."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def add_backspace(tokenizer, model) -> int:
    """`backspace.vocab.add_backspace_token` with its refusals as one-line user errors; returns the id."""
    from imitlm.backspace.vocab import add_backspace_token

    try:
        return add_backspace_token(tokenizer, model)
    except ValueError as error:
        raise UserError(
            f"{error}; use a tokenizer without an ordinary '<bksp>' token, or a preset without backspace"
        ) from None
