"""The batched encoders (`tokenize_rows`, evaluation, scoring) give exactly the per-text reference encoding."""

import datasets

from imitlm.backspace.vocab import add_backspace_token
from imitlm.data.encode import encode_completions, encode_prompts, encode_text, tokenize_rows
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

PROMPTS = ["In base 9, what is 1 + 2? ", "", "x<eos>y ", "<bksp>", "a<pad>b", "7"]
COMPLETIONS = ["3", "", "12<bksp>3<eos>", "<pad>", "-1a", "00"]


def reference_prompt(tokenizer, prompt: str) -> list[int]:
    """One text at a time: BOS (or EOS where there is no BOS), then the text's ids with control names spelled out."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ids = encode_text(tokenizer, prompt) if prompt else []
    return ids if ids and ids[0] == bos else [bos] + ids


def reference_completion(tokenizer, completion: str) -> list[int]:
    return tokenizer(completion, add_special_tokens=False, split_special_tokens=True)["input_ids"] + [
        tokenizer.eos_token_id
    ]


def tokenizer_with_backspace():
    tokenizer = build_char_tokenizer(ALPHABET + "<>")
    add_backspace_token(tokenizer)
    return tokenizer


def test_batched_encoders_equal_the_per_text_reference():
    tokenizer = tokenizer_with_backspace()
    assert encode_prompts(tokenizer, PROMPTS) == [reference_prompt(tokenizer, p) for p in PROMPTS]
    assert encode_completions(tokenizer, COMPLETIONS) == [reference_completion(tokenizer, c) for c in COMPLETIONS]
    specials = set(tokenizer.all_special_ids)
    for ids in encode_completions(tokenizer, COMPLETIONS):  # data never injects a control action
        assert not specials & set(ids[:-1]) and ids[-1] == tokenizer.eos_token_id
    assert encode_prompts(tokenizer, []) == [] and encode_completions(tokenizer, []) == []


def test_tokenize_rows_equals_the_reference_row_by_row():
    tokenizer = tokenizer_with_backspace()
    rows = datasets.Dataset.from_dict({"prompt": PROMPTS * 300, "completion": COMPLETIONS * 300})  # > one map batch
    encoded = tokenize_rows(rows, tokenizer, max_length=64)
    assert len(encoded) == len(rows) and encoded["example_index"] == list(range(len(rows)))
    for row in encoded.select([0, 1, 2, 3, 4, 5, 1000, 1799]):
        i = row["example_index"] % len(PROMPTS)
        assert row["prompt_ids"] == reference_prompt(tokenizer, PROMPTS[i])
        assert row["completion_ids"] == reference_completion(tokenizer, COMPLETIONS[i])
