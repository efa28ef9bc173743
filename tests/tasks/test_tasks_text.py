"""Generic text data: local files with text, prompt/completion or chat messages columns."""

import json

import pytest

from imitlm.errors import UserError
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.text import load_raw_dataset, to_prompt_completion


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_text_and_prompt_completion(tmp_path):
    rows = to_prompt_completion(load_raw_dataset(str(write(tmp_path / "a.jsonl", [{"text": "hello"}]))))
    assert rows[0] == {"prompt": "", "completion": "hello"}
    rows = to_prompt_completion(
        load_raw_dataset(str(write(tmp_path / "b.jsonl", [{"prompt": "p", "completion": "c"}])))
    )
    assert rows[0] == {"prompt": "p", "completion": "c"}


def test_csv_and_parquet_and_folder(tmp_path):
    import datasets

    (tmp_path / "d").mkdir()
    datasets.Dataset.from_dict({"prompt": ["x"], "completion": ["y"]}).to_parquet(str(tmp_path / "d" / "part.parquet"))
    assert len(load_raw_dataset(str(tmp_path / "d"))) == 1
    (tmp_path / "e.csv").write_text("prompt,completion\nq,a\n")
    assert to_prompt_completion(load_raw_dataset(str(tmp_path / "e.csv")))[0] == {"prompt": "q", "completion": "a"}


def test_chat_messages_use_the_chat_template(tmp_path):
    tokenizer = build_char_tokenizer("abcdefghijklmnopqrstuvwxyz:| ")
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}|{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    data = write(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}],
    )
    rows = to_prompt_completion(load_raw_dataset(str(data)), tokenizer)
    assert rows[0] == {"prompt": "user: hi|assistant: ", "completion": "yo"}
    with pytest.raises(UserError, match="no chat template"):
        to_prompt_completion(load_raw_dataset(str(data)), build_char_tokenizer("ab"))
