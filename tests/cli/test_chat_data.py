"""Issue 32, "chat data from the CLI" (and issue 30 item 4): `imitlm train --task text` on a jsonl of chat `messages`
or TRL's conversational prompt/completion, with a tokenizer that has a chat template, trains on the template's
rendering; `evaluate` and `rewards` read the same file. A tiny character tokenizer with a template, built here."""

import json

import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.data.encode import encode_prompts
from imitlm.models import load_trained
from imitlm.models.char_tokenizer import build_char_tokenizer

from cli.cli_support import BASE, assert_user_error, write_jsonl

TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}a: {% endif %}"
)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 +=?:\n"
QUESTIONS = [("what is 1+1?", "2"), ("what is 2+3?", "5"), ("what is 4+4?", "8"), ("what is 3+3?", "6")]


def messages_rows():
    return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in QUESTIONS]


def conversational_rows():
    return [
        {"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}]}
        for q, a in QUESTIONS
    ]


@pytest.fixture
def chat_model(tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    tokenizer.chat_template = TEMPLATE
    folder = tmp_path / "chat_model"
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("rows", [messages_rows, conversational_rows])
def test_chat_rows_train_evaluate_and_score_from_the_cli(cli, tmp_path, chat_model, rows):
    data = write_jsonl(tmp_path / "chat.jsonl", rows())
    out = tmp_path / "o"
    flags = [*BASE[:6], *BASE[10:], "--task", "text", "--dataset_name", data]
    trained = cli("train", "--model_name_or_path", chat_model, "--output_dir", out, *flags)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "4 training rows" in trained.stdout

    model, tokenizer = load_trained(str(out))
    assert tokenizer.chat_template == TEMPLATE  # saved with the model, so later commands render the same way
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "what is 1+1?"}], tokenize=False)
    assert rendered == "u: what is 1+1?\n" and encode_prompts(tokenizer, [rendered])[0][0] == tokenizer.bos_token_id

    evaluated = cli("evaluate", "--model", out, "--data", data, "--output", tmp_path / "e.json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads((tmp_path / "e.json").read_text())["num_examples"] == 4
    scored = cli("rewards", "--model", out, "--data", data, "--output", tmp_path / "r.jsonl")
    assert scored.returncode == 0, scored.stderr[-2000:]
    first = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert first["prompt"] == "u: what is 1+1?\na: " and first["completion"] == "2"


def test_chat_rows_need_a_template(cli, tmp_path):
    data = write_jsonl(tmp_path / "chat.jsonl", messages_rows())
    flags = [*BASE, "--task", "text", "--dataset_name", data, "--num_eval_examples", 0]
    result = cli("train", "--model_config", '{"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16}', *flags)
    assert_user_error(result, "has chat `messages` but the tokenizer has no chat template")
