"""Models and tokenizers: loading (a pretrained name or directory with the real `from_pretrained`, a config to train
from scratch, or a model `imitlm train` saved), the facts read off a model (`<bksp>` id, dtype, maximum length), and
the training settings saved with a model so that later commands take their defaults from them."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from imitlm.errors import UserError
from imitlm.tasks import arithmetic
from imitlm.tasks.char_tokenizer import build_char_tokenizer

logger = logging.getLogger(__name__)


def load_tokenizer(config, train_rows=None) -> PreTrainedTokenizerBase:
    """The tokenizer named in the config, else the model's, else a character-level one for the task's alphabet."""
    name = config.tokenizer_name_or_path or config.model_name_or_path
    if name is not None and (name == "bpe" or name.startswith("bpe:")) and not Path(name).exists():
        return ensure_special_tokens(bpe_from_rows(name, train_rows))
    if name is not None:
        option = "--tokenizer_name_or_path" if config.tokenizer_name_or_path else "--model_name_or_path"
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
    from imitlm.tasks.bpe_tokenizer import DEFAULT_VOCAB_SIZE, build_bpe_tokenizer

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
        if Path(config.model_name_or_path).exists():
            check_model_dir(Path(config.model_name_or_path), "--model_name_or_path")
        model = load_pretrained(
            AutoModelForCausalLM,
            config.model_name_or_path,
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


def load_trained(model_dir: str, option: str = "--model"):
    """A model and tokenizer saved by `imitlm train` (or any causal LM directory/hub name), in eval mode."""
    path = Path(model_dir)
    if path.exists():
        check_model_dir(path, option)
        check_tokenizer_dir(path, option)
    elif model_dir.startswith((".", "/", "~")) or model_dir.count("/") > 1:
        raise UserError(f"model directory not found: {model_dir}; pass the output_dir of `imitlm train`")
    tokenizer = load_pretrained(AutoTokenizer, model_dir, option, "tokenizer")
    model = load_pretrained(AutoModelForCausalLM, model_dir, option, "model", attn_implementation="sdpa")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


# ---- facts read off a model -------------------------------------------------------------------


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


# ---- the output head and its input, for the chunked loss (objectives.chunked) ----------------------


def output_head(model):
    """``hidden (..., H) -> logits`` as the model's forward computes them from its final hidden states: the output
    embedding module as it is (tied weights, LoRA or peft's trainable-token rows included), then the soft-capping
    (Gemma 2/3) or logit scaling (Cohere, Granite) its config declares. A plain `nn.Linear` without soft-capping is
    returned as `objectives.chunked.LinearHead` (the fused path). `hidden_and_head` checks the result against
    the model's own logits, so an architecture with another transform is refused rather than trained wrong."""
    head = model.get_output_embeddings()
    if head is None:
        raise UserError(
            "the chunked loss needs a model with an output embedding (get_output_embeddings()); "
            "use --chunked_loss false"
        )
    config = model.config
    scale = getattr(config, "logit_scale", None) if config.model_type.startswith("cohere") else None
    divide = getattr(config, "logits_scaling", None) if config.model_type.startswith("granite") else None
    cap = getattr(config, "final_logit_softcapping", None)
    if type(head) is torch.nn.Linear and cap is None:  # the fused path of objectives.chunked
        from imitlm.objectives.chunked import LinearHead

        return LinearHead(head.weight, head.bias, (scale or 1.0) / (divide or 1.0))

    def logits_of(hidden: torch.Tensor) -> torch.Tensor:
        logits = head(hidden)
        if scale is not None:
            logits = logits * scale
        if divide is not None:
            logits = logits / divide
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    return logits_of


def hidden_and_head(model, inputs: dict, check: bool = True):
    """``(outputs, hidden, head)``: one forward of ``model`` (through its own forward, so DDP's hooks run) that keeps
    the (B, T, H) input of the output head and computes logits at the last position only; ``head`` maps hidden
    states to logits (`output_head`). ``outputs.logits`` is (B, 1, V).

    The output module's input is taken by a forward pre-hook, which also cuts it to the last position: the model's
    forward then never builds (B, T, V) logits, whatever its own slicing arguments. ``check`` compares
    ``head(hidden[:, -1])`` with those last logits (a B x V product) and raises `UserError` where they differ.
    """
    base = unwrap_parallel(model)
    head = output_head(base)
    module = base.get_output_embeddings()
    captured = {}

    def keep_input(_module, args, kwargs):
        hidden = args[0]  # (B, T, H)
        captured["hidden"] = hidden
        return (hidden[:, -1:], *args[1:]), kwargs

    handle = module.register_forward_pre_hook(keep_input, with_kwargs=True)
    try:
        outputs = model(**inputs)
    finally:
        handle.remove()
    if "hidden" not in captured:
        raise UserError("the model's forward never called its output embedding; use --chunked_loss false")
    hidden = captured["hidden"]
    if check and not _has_active_dropout(module):
        check_head(outputs.logits[:, -1], hidden[:, -1], head)
    return outputs, hidden, head


def unwrap_parallel(model):
    """The model inside DDP / DataParallel (``.module``) or ``torch.compile`` (``._orig_mod``) wrappers.
    (accelerate's ``extract_model_from_parallel`` does this too, but imports DeepSpeed: seconds per process.)"""
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def _has_active_dropout(module) -> bool:
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 and m.training for m in module.modules())


def check_head(logits: torch.Tensor, hidden: torch.Tensor, head) -> None:
    """Refuse (one line) a model whose logits are not ``head(hidden)``: its forward transforms them in a way
    `output_head` does not know, and the chunked loss would train another function."""
    with torch.no_grad():
        got = head(hidden).float()
        expected = logits.float()
        tolerance = 1e-4 if logits.dtype == torch.float32 else 2e-2
        scale = float(expected.abs().max().clamp(min=1.0))
        if not torch.allclose(got, expected, rtol=tolerance, atol=tolerance * scale):
            raise UserError(
                "this architecture transforms its logits in a way the chunked loss does not reproduce (its last "
                f"logits differ by up to {float((got - expected).abs().max()):.3g}); use --chunked_loss false"
            )


# ---- training settings saved with the model ----------------------------------------------------

SETTINGS_KEY = "imitlm"  # key in the saved config.json


def save_run_settings(model_dir: str | Path, settings: dict[str, Any]) -> None:
    """Write the resolved training settings into ``model_dir/config.json`` under ``imitlm`` (atomically)."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config[SETTINGS_KEY] = settings
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, path)


def run_settings(model) -> dict[str, Any]:
    """The settings `imitlm train` saved with this model ({} for a model trained elsewhere)."""
    settings = getattr(getattr(model, "config", model), SETTINGS_KEY, None)
    return dict(settings) if isinstance(settings, dict) else {}


def setting(value, model, name: str, default):
    """A command's option: the user's value, else the model's training setting, else ``default``."""
    if value is not None:
        return value
    return run_settings(model).get(name, default)
