"""Checks of a model directory and of a loaded model against its tokenizer (`loading` runs them):
what would otherwise load without complaint and fail later with torch's index error, or train something else than
the user meant."""

from __future__ import annotations

import logging
from pathlib import Path

from imitlm.errors import UserError

logger = logging.getLogger(__name__)


def tokenizer_source(config) -> tuple[str | None, str]:
    """Where `imitlm train` reads its tokenizer from, and the option that names it."""
    if config.tokenizer_name_or_path:
        return config.tokenizer_name_or_path, "--tokenizer_name_or_path"
    return config.model_name_or_path, "--model_name_or_path"


def check_tokenizer_files(path: str | Path | None, option: str) -> None:
    """A fast tokenizer's `tokenizer.json` without its `tokenizer_config.json` loads, but without the special tokens
    (EOS, pad, chat template) that the config names: ids are then read wrongly. Refused with the fix."""
    if path is None or not Path(path).is_dir():
        return
    path = Path(path)
    if (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise UserError(
            f"{option} {path} has tokenizer.json but no tokenizer_config.json (which names the special tokens); copy "
            "it from where the tokenizer came from, or save the tokenizer there again with save_pretrained"
        )
    if (path / "tokenizer_config.json").is_file() and not has_vocabulary(path):
        raise UserError(
            f"{option} {path} has tokenizer_config.json but no tokenizer.json (the vocabulary); copy it from where "
            "the tokenizer came from, or save the tokenizer there again with save_pretrained"
        )


def has_vocabulary(path: Path) -> bool:
    """Any file a tokenizer reads its vocabulary from: tokenizer.json, or a slow tokenizer's own files."""
    patterns = ("tokenizer.json", "vocab.*", "merges.txt", "*.model", "*.tiktoken", "spiece*", "sentencepiece*")
    return any(any(path.glob(pattern)) for pattern in patterns)


def embedding_rows(model) -> int:
    return model.get_input_embeddings().num_embeddings


def check_vocabulary(model, tokenizer, option: str) -> None:
    """``option``: where the model came from, e.g. "--model DIR"."""
    # a model whose vocabulary is smaller than its tokenizer has no embedding for the tokenizer's last ids
    rows = embedding_rows(model)
    if len(tokenizer) > rows:
        raise UserError(
            f"the tokenizer of {option} has {len(tokenizer)} tokens but the model's vocabulary only {rows}: ids from "
            f"{rows} on have no embedding; save the tokenizer the model was trained with beside it"
        )


def note_resized_vocabulary(config, tokenizer) -> None:
    """Training from a pretrained model with a tokenizer of more tokens than its vocabulary: the embeddings grow
    (`models.load_model`), with untrained rows for the new ids. Said in one line, before loading."""
    if config.model_name_or_path is None:
        return
    from transformers import AutoConfig

    from imitlm.models.sources import resolve_model_path

    try:  # an offline name or GGUF file is read where it was converted, never looked up on the Hub
        name = resolve_model_path(config.model_name_or_path, getattr(config, "gguf_file", None))
        vocab = getattr(AutoConfig.from_pretrained(name), "vocab_size", None)
    except Exception:  # a missing wheel, a bad file, an unloadable config: reported when the model is loaded
        return
    if isinstance(vocab, int) and len(tokenizer) > vocab:
        source = config.tokenizer_name_or_path or config.model_name_or_path
        logger.warning(
            "the tokenizer (%s) has %d tokens, the model's vocabulary %d: the embeddings grow to %d with %d untrained "
            "rows; use the model's own tokenizer to avoid this",
            source,
            len(tokenizer),
            vocab,
            len(tokenizer),
            len(tokenizer) - vocab,
        )
