"""Loading models and tokenizers: a pretrained name, directory, GGUF file or offline name (`sources`) with the real
`from_pretrained`, a config to train from scratch, or a model `imitlm train` saved. Every failure is one line."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from imitlm.errors import UserError
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.models.files import check_tokenizer_files, check_vocabulary
from imitlm.models.sources import resolve_model_path
from imitlm.tasks import arithmetic

logger = logging.getLogger(__name__)


def load_tokenizer(config, train_rows=None) -> PreTrainedTokenizerBase:
    """The tokenizer named in the config, else the model's, else a character-level one for the task's alphabet."""
    name = config.tokenizer_name_or_path or config.model_name_or_path
    if name is not None and (name == "bpe" or name.startswith("bpe:")) and not Path(name).exists():
        return ensure_special_tokens(bpe_from_rows(name, train_rows))
    if name is not None:
        option = "--tokenizer_name_or_path" if config.tokenizer_name_or_path else "--model_name_or_path"
        gguf_file = None if config.tokenizer_name_or_path else config.gguf_file
        name = resolve_model_path(name, gguf_file, option)
        if Path(name).exists():
            check_tokenizer_dir(Path(name), option)
        tokenizer = load_pretrained(AutoTokenizer, name, option, "tokenizer")
    elif config.task == "arithmetic":
        tokenizer = build_char_tokenizer(arithmetic.ALPHABET)
    else:
        if train_rows is None:
            raise UserError("training from scratch on text needs --tokenizer_name_or_path or data to build one from")
        alphabet = set()
        for row in train_rows:
            alphabet.update(row["prompt"])
            alphabet.update(row["completion"])
        tokenizer = build_char_tokenizer("".join(sorted(alphabet)))
    return ensure_special_tokens(tokenizer)


def bpe_from_rows(name: str, train_rows):
    """`--tokenizer_name_or_path bpe` (or `bpe:VOCAB_SIZE`): a byte-level BPE trained on the training rows."""
    from imitlm.models.bpe_tokenizer import DEFAULT_VOCAB_SIZE, build_bpe_tokenizer

    size = name.partition(":")[2]
    if size and not size.isdigit():
        raise UserError(f"--tokenizer_name_or_path {name}: write bpe or bpe:VOCAB_SIZE, e.g. bpe:2000")
    if train_rows is None:
        raise UserError("--tokenizer_name_or_path bpe trains a tokenizer on the training data; give the data too")
    texts = (row["prompt"] + row["completion"] for row in train_rows)
    return build_bpe_tokenizer(texts, int(size) if size else DEFAULT_VOCAB_SIZE)


def ensure_special_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Training needs EOS (terminal action) and a pad token. A missing pad reuses EOS, as is usual for GPT-2."""
    if tokenizer.eos_token_id is None:
        raise UserError(
            "the tokenizer has no EOS token; set one (tokenizer.eos_token = ...) and save it, or pick another tokenizer"
        )
    if tokenizer.pad_token_id is None:
        logger.warning("tokenizer has no pad token: using its EOS token %r for padding", tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(config, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """`from_pretrained(model_name_or_path)`, or a fresh model of `model_config` sized to the tokenizer."""
    if config.model_name_or_path is not None:
        name = resolve_model_path(config.model_name_or_path, config.gguf_file)
        if Path(name).exists():
            check_model_dir(Path(name), "--model_name_or_path")
        model = load_pretrained(
            AutoModelForCausalLM,
            name,
            "--model_name_or_path",
            "model",
            attn_implementation=config.attn_implementation,
        )
    else:
        if config.model_config is None:
            raise UserError(
                "no model given: set --model_name_or_path, or model_config in the YAML to train from scratch"
            )
        settings = dict(config.model_config)
        model_type = settings.pop("model_type", None)
        if model_type is None:
            raise UserError("model_config needs a model_type (e.g. gpt2, llama, qwen2)")
        try:
            model_config = AutoConfig.for_model(model_type, **settings)
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"bad model_config: {' '.join(str(error).split())[:200]}; fix it in the YAML") from None
        model_config.vocab_size = len(tokenizer)
        model_config.pad_token_id = tokenizer.pad_token_id
        model_config.bos_token_id = tokenizer.bos_token_id
        model_config.eos_token_id = tokenizer.eos_token_id
        torch.manual_seed(config.seed)  # the initial weights depend on the run's seed only
        try:
            model = AutoModelForCausalLM.from_config(model_config, attn_implementation=config.attn_implementation)
        except (ValueError, TypeError, KeyError, ZeroDivisionError) as error:  # e.g. n_embd not divisible by n_head
            reason = " ".join(str(error).split())[:200] or type(error).__name__
            raise UserError(f"bad model_config {config.model_config}: {reason}; fix it in the YAML") from None
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        from imitlm.backspace.vocab import resize_embeddings

        resize_embeddings(model, len(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def check_model_dir(path: Path, option: str) -> None:
    """A local model directory holds a config, weights and a tokenizer; say which is missing, before loading."""
    if not path.is_dir():
        raise UserError(f"{option} {path} is a file; give the model's directory (the output_dir of `imitlm train`)")
    if not (path / "config.json").is_file():
        raise UserError(
            f"{option} {path} holds no model (no config.json); give the output_dir of a finished `imitlm train` "
            "(a run still training has only checkpoint-N folders, which load as well)"
        )
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
    if not any((path / name).is_file() for name in weights):
        raise UserError(f"{option} {path} has a config.json but no weights (model.safetensors); copy them there")


def check_tokenizer_dir(path: Path, option: str) -> None:
    if path.is_file():
        raise UserError(f"{option} {path} is a file; give the tokenizer's directory")
    files = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt")
    if path.is_dir() and not any((path / name).is_file() for name in files):
        raise UserError(f"{option} {path} has no tokenizer (no tokenizer.json); save the tokenizer there too")


def load_pretrained(loader, name: str, option: str, what: str, **kwargs):
    """``loader.from_pretrained(name)`` with every failure (missing, truncated, corrupt files) as one line."""
    try:
        return loader.from_pretrained(name, **kwargs)
    except Exception as error:  # OSError, SafetensorError, ValueError, EnvironmentError...: one line for all
        reason = " ".join(str(error).split())[:160] or type(error).__name__
        if Path(name).exists():
            raise UserError(
                f"could not load the {what} of {option} {name} ({reason}); the files may be truncated or corrupt: "
                "give a directory a finished `imitlm train` wrote"
            ) from None
        raise UserError(
            f"{option} {name} is not a local directory, and the hub could not provide its {what} ({reason}); "
            "check the path, or the hub name and your connection"
        ) from None


def load_trained(model_dir: str, option: str = "--model", gguf_file: str | None = None):
    """A model and tokenizer saved by `imitlm train` (or any causal LM directory, hub name, GGUF file or offline name),
    in eval mode."""
    model_dir = resolve_model_path(str(model_dir), gguf_file, option)
    path = Path(model_dir)
    if path.exists():
        check_model_dir(path, option)
        check_tokenizer_dir(path, option)
        check_tokenizer_files(path, option)
    elif model_dir.startswith((".", "/", "~")) or model_dir.count("/") > 1:
        raise UserError(f"model directory not found: {model_dir}; pass the output_dir of `imitlm train`")
    tokenizer = load_pretrained(AutoTokenizer, model_dir, option, "tokenizer")
    model = load_pretrained(AutoModelForCausalLM, model_dir, option, "model", attn_implementation="sdpa")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    check_vocabulary(model, tokenizer, f"{option} {model_dir}")
    model.eval()
    return model, tokenizer
