"""Data the tokenizer or the task cannot read as the user meant: never a silent wrong result. Unknown characters
are named (train refuses them), control-token names in data stay text, numbers in CSV/JSON are answers, a bad row
is named by its index and problem, and columns or rows that would be ignored are said."""

import json

import pytest

from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

from cli.cli_support import BASE, MODEL, assert_user_error, save_small_model, warning_lines, write_jsonl


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_small_model(tmp_path_factory.mktemp("model") / "m")


def text_train(cli, out, data, *extra):
    return cli("train", "--task", "text", "--dataset_name", data, "--output_dir", out, *BASE, *extra)


def test_unknown_characters_refused_by_train_and_said_by_the_others(cli, tmp_path, model_dir):
    rows = [{"prompt": "caf\u00e9 ", "completion": "1\t2"}, {"prompt": "x ", "completion": "\u00e9"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    tokenizer = ["--tokenizer_name_or_path", model_dir, "--model_config", MODEL]
    refused = text_train(cli, tmp_path / "o", data, *tokenizer)
    assert_user_error(refused, "does not know: '\u00e9' (2x), '\\t' (1x)", "--allow_unknown_chars")
    allowed = text_train(cli, tmp_path / "o", data, *tokenizer, "--allow_unknown_chars", "true")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert len(warning_lines(allowed, "does not know")) == 1
    evaluated = cli("evaluate", "--model", model_dir, "--data", data, "--max_new_tokens", 2)
    assert evaluated.returncode == 0 and len(warning_lines(evaluated, "does not know: '\u00e9' (2x)")) == 1
    generated = cli("generate", "--model", model_dir, "--prompt", "\U0001f600 1 + 1", "--max_new_tokens", 1)
    assert generated.returncode == 0 and len(warning_lines(generated, "the prompt holds characters")) == 1
    scored = cli("rewards", "--model", model_dir, "--data", data, "--output", tmp_path / "r.jsonl")
    assert scored.returncode == 0 and len(warning_lines(scored, "does not know")) == 1


def test_control_token_names_in_data_are_text(cli, tmp_path):
    """ "<eos>" or "<bksp>" typed in a completion must not end the sequence or delete a token."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a<eos>", "completion": "b<eos>c<bksp>d"}] * 4)
    out = tmp_path / "o"
    trained = text_train(cli, out, data, "--model_config", MODEL, "--objective", "mle_bksp", "--noise_prob", "0")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert len(warning_lines(trained, "spells '<bksp>' (4x), '<eos>' (8x): read as plain text")) == 1
    assert cli("rewards", "--model", out, "--data", data, "--output", tmp_path / "r.jsonl").returncode == 0
    tokens = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["tokens"]
    assert tokens == [*"b<eos>c<bksp>d", "<eos>"]  # one action per character, then the real end


def test_numbers_in_csv_and_json_are_answers(cli, tmp_path, model_dir):
    csv = tmp_path / "d.csv"
    csv.write_text("prompt,completion\n1 + 1 ,2\n2 + 05 ,007\n")
    scored = cli("rewards", "--model", model_dir, "--data", csv, "--output", tmp_path / "r.jsonl")
    assert scored.returncode == 0, scored.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [row["completion"] for row in rows] == ["2", "007"]  # as the file says, not 7
    numbers = write_jsonl(tmp_path / "n.jsonl", [{"prompt": "1 + 1 ", "completion": 2}])
    assert cli("evaluate", "--model", model_dir, "--data", numbers, "--max_new_tokens", 2).returncode == 0


@pytest.mark.parametrize(
    "name, text, fragment",
    [
        ("empty.csv", "prompt,completion\n1 + 1 ,2\n2 + 2 = ,\n", "row 1 has an empty completion"),
        ("none.jsonl", '{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": null}\n', "row 1 has no"),
        ("list.jsonl", '{"prompt": "a", "completion": ["b"]}\n', "row 0 has a completion of type list"),
        ("noprompt.jsonl", '{"prompt": null, "completion": "b"}\n', "row 0 has no prompt"),
    ],
)
def test_bad_rows_are_named(cli, tmp_path, model_dir, name, text, fragment):
    (tmp_path / name).write_text(text)
    assert_user_error(cli("rewards", "--model", model_dir, "--data", tmp_path / name), f"{name}: {fragment}")


def test_ignored_or_meaningless_data(cli, tmp_path, model_dir):
    both = write_jsonl(tmp_path / "b.jsonl", [{"prompt": "1 + 1 ", "completion": "2", "text": "zzz"}])
    said = cli("evaluate", "--model", model_dir, "--data", both, "--max_new_tokens", 1)
    assert said.returncode == 0 and len(warning_lines(said, "`text` ignored")) == 1
    plain = write_jsonl(tmp_path / "p.jsonl", [{"text": "some plain text"}])
    assert_user_error(cli("evaluate", "--model", model_dir, "--data", plain), "plain `text` rows", "--task text")


def test_literal_bksp_in_a_tokenizer_with_the_token(tmp_path):
    """The encoder alone, with a tokenizer that has `<bksp>` as a special token: the name is spelled out."""
    from imitlm.backspace.vocab import add_backspace_token
    from imitlm.data.encode import encode_completion, encode_prompt

    tokenizer = build_char_tokenizer(ALPHABET + "<>")
    bksp = add_backspace_token(tokenizer)
    ids = encode_completion(tokenizer, "12<bksp>3<eos>")
    assert bksp not in ids and ids.count(tokenizer.eos_token_id) == 1 and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in encode_prompt(tokenizer, "x<eos>")[1:]
