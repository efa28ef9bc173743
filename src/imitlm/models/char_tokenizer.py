"""A character-level `PreTrainedTokenizerFast` for the shipped tasks, built with the `tokenizers` library.

Saved with `save_pretrained`, it reloads with `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}


def build_char_tokenizer(alphabet: str) -> PreTrainedTokenizerFast:
    """One token per character of `alphabet`, plus <pad>, <bos>, <eos>, <unk> (ids 0..3)."""
    chars = sorted(set(alphabet))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS.values())}
    for char in chars:
        vocab.setdefault(char, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    # Every character is its own pre-token (spaces included); decoding glues them back with no separator.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS, clean_up_tokenization_spaces=False)
