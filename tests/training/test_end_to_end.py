"""CPU end to end through the CLI: train -> save -> reload -> evaluate, in seconds, on tiny models."""

import contextlib
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from imitlm.cli import main
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

CONFIG = str(Path(__file__).parents[2] / "configs" / "arithmetic_mle.yaml")
TINY = [
    "--num_train_examples",
    "64",
    "--num_eval_examples",
    "8",
    "--per_device_train_batch_size",
    "8",
    "--logging_steps",
    "2",
    "--save_steps",
    "1000",
    "--disable_tqdm",
    "true",
]


def test_train_save_reload_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--config", CONFIG, "--output_dir", str(out), "--max_steps", "4", *TINY]) == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "log_history.json"):
        assert (out / name).is_file(), name
    logs = json.loads((out / "log_history.json").read_text())
    assert any("objective/mle" in row for row in logs)
    assert (
        main(["evaluate", "--model", str(out), "--task", "arithmetic", "--num_examples", "6", "--max_new_tokens", "8"])
        == 0
    )
    result = json.loads((out / "eval_test.json").read_text())
    assert result["num_examples"] == 6 and 0.0 <= result["accuracy"] <= 1.0 and result["perplexity"] > 1.0
    assert "accuracy" in capsys.readouterr().out


def test_llama_from_scratch_and_evaluate_on_a_data_file(tmp_path):
    out = tmp_path / "llama"
    llama = (
        '{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, '
        '"num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 128}'
    )
    assert (
        main(
            [
                "train",
                "--model_config",
                llama,
                "--task",
                "arithmetic",
                "--output_dir",
                str(out),
                "--max_steps",
                "2",
                "--use_cpu",
                "true",
                "--objective",
                "sequencematch",
                "--rollout_batch_size",
                "4",
                "--max_new_tokens",
                "4",
                *TINY,
            ]
        )
        == 0
    )
    assert json.loads((out / "config.json").read_text())["model_type"] == "llama"
    data = tmp_path / "heldout.jsonl"
    data.write_text(json.dumps({"prompt": "In base 10, what is 1 + 1? ", "completion": "2"}) + "\n")
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(out),
                "--data",
                str(data),
                "--max_new_tokens",
                "4",
                "--output",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "e.json").read_text())["num_examples"] == 1


def test_pretrained_model_from_local_directory(tmp_path):
    """The real `from_pretrained(model_name_or_path)` path, on a tiny model saved here (no hub access)."""
    tokenizer = build_char_tokenizer(ALPHABET)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=1,
        n_head=2,
        n_embd=16,
        n_positions=128,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    out = tmp_path / "ft"
    assert (
        main(
            [
                "train",
                "--model_name_or_path",
                str(tmp_path / "base"),
                "--task",
                "arithmetic",
                "--output_dir",
                str(out),
                "--max_steps",
                "2",
                "--use_cpu",
                "true",
                *TINY,
            ]
        )
        == 0
    )
    before = AutoModelForCausalLM.from_pretrained(tmp_path / "base").transformer.wte.weight
    after = AutoModelForCausalLM.from_pretrained(out).transformer.wte.weight
    assert before.shape == after.shape and not torch.equal(before, after)


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["evaluate", "--help"], ["generate", "--help"]])
def test_help_explains_options(argv, capsys):
    returns = argv in (["--help"], ["train", "--help"])  # imitlm's own help screens; argparse's exit
    with contextlib.nullcontext() if returns else pytest.raises(SystemExit):
        assert main(argv) == 0
    text = capsys.readouterr().out
    assert "usage" in text.lower() and len(text) > 300
