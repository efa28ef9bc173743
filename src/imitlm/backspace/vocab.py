"""Adding the `<bksp>` token to a tokenizer and a model (docs/design.md, "The `<bksp>` layout").

- the tokenizer gains ``<bksp>`` as an extra special token, without clobbering existing ones
  (transformers 5 renamed ``additional_special_tokens`` to ``extra_special_tokens``);
- the model's embeddings are resized with mean-resizing and the id is written to
  ``model.config.bksp_token_id`` so that a saved and reloaded model knows it;
- with LoRA, :func:`lora_config_with_bksp` makes the new rows trainable (peft's
  ``trainable_token_indices``).
"""

from __future__ import annotations

import copy

import torch

BKSP_TOKEN = "<bksp>"


def _is_special(tokenizer, token: str) -> bool:
    if token in getattr(tokenizer, "all_special_tokens", []):
        return True
    tid = tokenizer.convert_tokens_to_ids(token)
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return tid in added and bool(getattr(added[tid], "special", False))


def add_backspace_token(tokenizer, model=None) -> int:
    """Add ``<bksp>`` to ``tokenizer`` (and ``model``); return its id. Idempotent.

    The model's input (and untied output) embeddings are resized to ``len(tokenizer)`` with
    ``mean_resizing=True``, so the logits of the original tokens are unchanged. If the model's
    embedding matrix is already larger than the tokenizer (vocabularies padded to a multiple,
    e.g. Qwen2), it is never shrunk: the existing row of the new id is set to the mean of the
    tokenizer's other rows instead.

    Raises ValueError if ``<bksp>`` already exists as an ordinary (non-special) token, or if
    the model already records a different ``bksp_token_id``.
    """
    vocab = tokenizer.get_vocab()
    if BKSP_TOKEN in vocab:
        if not _is_special(tokenizer, BKSP_TOKEN):
            raise ValueError(
                f"{BKSP_TOKEN!r} already exists in the tokenizer as an ordinary token "
                f"(id {vocab[BKSP_TOKEN]}); it cannot serve as the backspace action"
            )
        newly_added = False
    else:
        tokenizer.add_special_tokens({"extra_special_tokens": [BKSP_TOKEN]}, replace_extra_special_tokens=False)
        newly_added = True
    bksp_id = int(tokenizer.convert_tokens_to_ids(BKSP_TOKEN))
    if model is None:
        return bksp_id

    recorded = getattr(model.config, "bksp_token_id", None)
    if recorded is not None and recorded != bksp_id:
        raise ValueError(f"model.config.bksp_token_id is {recorded} but the tokenizer's {BKSP_TOKEN} is {bksp_id}")
    n_rows = model.get_input_embeddings().weight.shape[0]
    if bksp_id >= n_rows:
        resize_embeddings(model, len(tokenizer))
    elif newly_added or recorded is None:
        _init_row_to_mean(model, bksp_id, n_ordinary=bksp_id)
    model.config.bksp_token_id = bksp_id
    return bksp_id


def resize_embeddings(model, num_tokens: int) -> None:
    """``resize_token_embeddings`` with transformers' mean resizing (new rows drawn around the old rows' mean and
    covariance), without its notice explaining mean resizing on every run: the choice is ours, not the user's."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model.resize_token_embeddings(num_tokens, mean_resizing=True)
    finally:
        hf_logging.set_verbosity(level)


@torch.no_grad()
def _init_row_to_mean(model, row: int, n_ordinary: int) -> None:
    """Set an existing (padding) row of the embeddings to the mean of the first rows."""
    emb = model.get_input_embeddings().weight
    emb[row] = emb[:n_ordinary].mean(0)
    out = model.get_output_embeddings()
    if out is not None and out.weight is not emb:
        out.weight[row] = out.weight[:n_ordinary].mean(0)
        if getattr(out, "bias", None) is not None:
            out.bias[row] = out.bias[:n_ordinary].mean(0)


def _module_name(model, module) -> str | None:
    for name, m in model.named_modules():
        if m is module:
            return name
    return None


def lora_config_with_bksp(lora_config, bksp_id: int, model=None):
    """A copy of ``lora_config`` whose ``trainable_token_indices`` include ``bksp_id``.

    peft >= 0.15 trains selected rows of the input embedding (``TrainableTokensWrapper``); with
    tied weights, peft ties the LM head to the same rows. Pass ``model`` (the base model, before
    ``get_peft_model``) when its LM head is *untied*, so its row is made trainable too; without
    it only the input embedding row is trained.
    """
    cfg = copy.deepcopy(lora_config)
    existing = cfg.trainable_token_indices
    if model is None:
        if isinstance(existing, dict):
            raise ValueError("lora_config already has a dict of trainable_token_indices: pass model=")
        cfg.trainable_token_indices = sorted(set(existing or []) | {bksp_id})
        return cfg
    in_name = _module_name(model, model.get_input_embeddings())
    targets: dict[str, list[int]] = {}
    if isinstance(existing, dict):
        targets.update({k: list(v) for k, v in existing.items()})
    elif existing:
        targets[in_name] = list(existing)
    targets[in_name] = sorted(set(targets.get(in_name, [])) | {bksp_id})
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is model.get_input_embeddings().weight
    if out is not None and not tied:
        out_name = _module_name(model, out)
        targets[out_name] = sorted(set(targets.get(out_name, [])) | {bksp_id})
    cfg.trainable_token_indices = targets
    return cfg
