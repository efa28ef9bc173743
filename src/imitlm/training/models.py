"""Models and tokenizers: a pretrained name or directory (real `from_pretrained`), or a config to train from scratch."""

from __future__ import annotations

import logging

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from imitlm.errors import UserError
from imitlm.tasks import arithmetic
from imitlm.tasks.char_tokenizer import build_char_tokenizer

logger = logging.getLogger(__name__)


def load_tokenizer(config, train_rows=None) -> PreTrainedTokenizerBase:
    """The tokenizer named in the config, else the model's, else a character-level one for the task's alphabet."""
    name = config.tokenizer_name_or_path or config.model_name_or_path
    if name is not None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except OSError as error:
            raise UserError(f"could not load a tokenizer from {name!r} ({str(error).splitlines()[0]}); "
                            "give a local directory or an available hub name") from None
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


def ensure_special_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Training needs EOS (terminal action) and a pad token. A missing pad reuses EOS, as is usual for GPT-2."""
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no EOS token; set one (tokenizer.eos_token = ...) and save it, "
                        "or pick another tokenizer")
    if tokenizer.pad_token_id is None:
        logger.warning("tokenizer has no pad token: using its EOS token %r for padding", tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(config, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """`from_pretrained(model_name_or_path)`, or a fresh model of `model_config` sized to the tokenizer."""
    if config.model_name_or_path is not None:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                config.model_name_or_path, attn_implementation=config.attn_implementation
            )
        except OSError as error:
            raise UserError(f"could not load model {config.model_name_or_path!r} ({str(error).splitlines()[0]}); "
                            "give a local directory or an available hub name") from None
    else:
        settings = dict(config.model_config)
        model_type = settings.pop("model_type", None)
        if model_type is None:
            raise UserError("model_config needs a model_type (e.g. gpt2, llama, qwen2)")
        try:
            model_config = AutoConfig.for_model(model_type, **settings)
        except (ValueError, KeyError) as error:
            raise UserError(f"bad model_config: {error}") from None
        model_config.vocab_size = len(tokenizer)
        model_config.pad_token_id = tokenizer.pad_token_id
        model_config.bos_token_id = tokenizer.bos_token_id
        model_config.eos_token_id = tokenizer.eos_token_id
        torch.manual_seed(config.seed)  # the initial weights depend on the run's seed only
        model = AutoModelForCausalLM.from_config(model_config, attn_implementation=config.attn_implementation)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
