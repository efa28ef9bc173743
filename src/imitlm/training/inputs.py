"""What `ImitationTrainer` accepts, TRL-style: a model object or a name, and datasets of raw `prompt`/`completion`
strings (or chat messages), raw `text`, chat `messages`, or rows already tokenised to `prompt_ids`/`completion_ids`.
Raw rows are tokenised here as TRL's SFTTrainer does, with the same functions the CLI uses."""

from __future__ import annotations

import os

import datasets
from transformers import AutoModelForCausalLM, AutoTokenizer

from imitlm.data.encode import tokenize_rows
from imitlm.errors import UserError
from imitlm.models import ensure_special_tokens, load_pretrained, resolve_model_path
from imitlm.tasks.text import to_prompt_completion

TOKENISED = {"prompt_ids", "completion_ids"}


def resolve_model(model, processing_class, attn_implementation: str | None = None):
    """``(model, tokenizer)``: a name or path (hub name, directory, GGUF file, offline name) is loaded as `imitlm train`
    loads it (its tokenizer too, unless one is given); a model object needs ``processing_class``. The tokenizer gets
    a pad token if it has none."""
    if isinstance(model, (str, os.PathLike)):
        name = resolve_model_path(str(model), option="model")
        if processing_class is None:
            processing_class = load_pretrained(AutoTokenizer, name, "model", "tokenizer")
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = load_pretrained(AutoModelForCausalLM, name, "model", "model", **kwargs)
    if processing_class is None:
        raise UserError("ImitationTrainer(model=<model object>) needs processing_class=<its tokenizer>")
    return model, ensure_special_tokens(processing_class)


def token_rows(dataset, tokenizer, max_length: int, source: str):
    """Rows with ``prompt_ids``/``completion_ids``: tokenised rows pass through, raw rows are tokenised."""
    if dataset is None:
        return None
    if isinstance(dataset, list):
        dataset = datasets.Dataset.from_list(dataset)
    if not isinstance(dataset, datasets.Dataset):
        raise UserError(f"{source} must be a datasets.Dataset (or a list of dicts), got {type(dataset).__name__}")
    if TOKENISED <= set(dataset.column_names):
        return dataset
    rows = to_prompt_completion(dataset, tokenizer, source=source)
    return tokenize_rows(rows, tokenizer, max_length, source=source)
