"""The byte-level BPE tokenizer (models/bpe_tokenizer.py): round trip, special ids, save/reload, the `bpe` option."""

from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from imitlm.errors import UserError
from imitlm.models import load_tokenizer
from imitlm.models.bpe_tokenizer import build_bpe_tokenizer

TRAIN = ["The prime minister said the fire was under control.", "Firefighters fought the blaze near Sydney."] * 20
ROUND_TRIP = ["The fire was near Sydney.", "  two  spaces, a tab\tand a newline\n", "naïve café — 東京 🙂", ""]


def test_bpe_round_trips_and_reloads(tmp_path):
    tokenizer = build_bpe_tokenizer(TRAIN, vocab_size=400)
    assert len(tokenizer) <= 400
    assert [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id] == [
        0,
        1,
        2,
        3,
    ]
    for text in ROUND_TRIP:  # byte-level: any string, unseen characters included
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    words = tokenizer(" the fire", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(words) == ["Ġthe", "Ġfire"]  # merges learnt (Ġ: byte-level space)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert (
        reloaded(ROUND_TRIP[2], add_special_tokens=False)["input_ids"]
        == tokenizer(ROUND_TRIP[2], add_special_tokens=False)["input_ids"]
    )


def test_load_tokenizer_bpe_option():
    rows = [{"prompt": "", "completion": text} for text in TRAIN]
    config = SimpleNamespace(tokenizer_name_or_path="bpe:380", model_name_or_path=None, task="text")
    tokenizer = load_tokenizer(config, rows)
    assert len(tokenizer) <= 380 and tokenizer.decode(tokenizer(TRAIN[0])["input_ids"]) == TRAIN[0]
    with pytest.raises(UserError, match="bpe:VOCAB_SIZE"):
        load_tokenizer(SimpleNamespace(tokenizer_name_or_path="bpe:big", model_name_or_path=None, task="text"), rows)
