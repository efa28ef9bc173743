"""Training settings travel with the model: `imitlm train` saves the resolved settings in config.json, and later
commands take their defaults from them (a flag still overrides)."""

import json
from pathlib import Path

import pytest

from imitlm.cli import main
from imitlm.evaluation.rewards import score_rows
from imitlm.models import load_trained, run_settings
from imitlm.objectives import PRESETS

CONFIG = str(Path(__file__).parents[2] / "configs" / "arithmetic_iqlearn.yaml")
TINY = [
    "--num_train_examples",
    "32",
    "--num_eval_examples",
    "4",
    "--per_device_train_batch_size",
    "8",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--disable_tqdm",
    "true",
    "--max_steps",
    "2",
]


def test_settings_saved_and_used_as_defaults(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                CONFIG,
                "--output_dir",
                str(out),
                "--gamma",
                "0.9",
                "--difficulty",
                "0",
                "--task_seed",
                "3",
                *TINY,
            ]
        )
        == 0
    )
    model, tokenizer = load_trained(str(out))
    settings = run_settings(model)
    assert settings["gamma"] == 0.9 and settings["preset"] == "iqlearn" and settings["difficulty"] == 0
    assert settings["task_seed"] == 3 and settings["td_weight"] == pytest.approx(PRESETS["iqlearn"].td_weight)
    assert json.loads((out / "config.json").read_text())["imitlm"] == settings

    # rewards without --gamma: the training gamma (0.9), not the fallback 0.998
    rows = [{"prompt": "In base 10, what is 2 + 2? ", "completion": "4"}, {"prompt": "ab", "completion": "12"}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["rewards", "--model", str(out), "--data", str(data), "--output", str(tmp_path / "r.jsonl")]) == 0
    got = [json.loads(line)["return"] for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    prompts, completions = [r["prompt"] for r in rows], [r["completion"] for r in rows]
    at_09 = [r["return"] for r in score_rows(model, tokenizer, prompts, completions, gamma=0.9)]
    at_0998 = [r["return"] for r in score_rows(model, tokenizer, prompts, completions, gamma=0.998)]
    assert got == pytest.approx(at_09, abs=1e-5) and got != pytest.approx(at_0998, abs=1e-3)
    # a flag still overrides
    assert (
        main(
            [
                "rewards",
                "--model",
                str(out),
                "--data",
                str(data),
                "--gamma",
                "0.998",
                "--output",
                str(tmp_path / "r2.jsonl"),
            ]
        )
        == 0
    )
    got = [json.loads(line)["return"] for line in (tmp_path / "r2.jsonl").read_text().splitlines()]
    assert got == pytest.approx(at_0998, abs=1e-5)

    # evaluate without --difficulty / --task_seed: the training run's questions (difficulty 0, seed 3)
    assert main(["evaluate", "--model", str(out), "--num_examples", "5", "--max_new_tokens", "4"]) == 0
    from imitlm.tasks import arithmetic_rows

    expected = list(arithmetic_rows("test", 5, seed=3, difficulty=0)["completion"])
    samples = json.loads((out / "eval_test.json").read_text())["samples"]
    assert [s["reference"] for s in samples] == expected
