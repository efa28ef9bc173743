"""A small byte-level BPE `PreTrainedTokenizerFast` trained on a task's training text with the `tokenizers` library.

The character tokenizer (`char_tokenizer.py`) makes English prose ~5 tokens per word; a BPE of a few thousand
tokens makes it ~1.3, so a tiny model sees whole sentences. Byte-level (GPT-2's scheme): every string encodes
and decodes back exactly, whatever characters it holds. Saved with `save_pretrained` (the trained model's
directory holds it), it reloads with `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from imitlm.models.char_tokenizer import SPECIAL_TOKENS

DEFAULT_VOCAB_SIZE = 2000


def build_bpe_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """BPE with at most ``vocab_size`` tokens learnt from ``texts``: <pad>, <bos>, <eos>, <unk> (ids 0..3), the 256
    byte symbols, then merges. Deterministic for the same texts in the same order."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS, clean_up_tokenization_spaces=False)
