"""Issue 32, "nothing silently ignored": settings that ran with exit 0 but did something other than asked now give
one warning line, or one error line where the run could not do what was meant."""

import json

import pytest
import yaml

from imitlm.errors import UserError
from imitlm.sweep import parse_space
from imitlm.sweep.run import run_sweep

from cli.cli_support import BASE, MODEL, assert_user_error, save_small_model, warning_lines, write_jsonl

TRAIN = ["train", "--model_config", MODEL, *BASE]


def test_yaml_key_twice_or_without_value_is_refused(cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("objective: mle\nlearning_rate: 0.01\nmax_steps: 1\nlearning_rate: 0.5\n")
    twice = cli("train", "--config", recipe, "--output_dir", tmp_path / "o")
    assert_user_error(twice, "config key 'learning_rate' is given twice in", "(lines 2 and 4)")
    recipe.write_text("objective: mle\nmax_steps:\n")
    empty = cli("train", "--config", recipe, "--output_dir", tmp_path / "o")
    assert_user_error(empty, "config key 'max_steps' in", "(line 2) has no value")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--objective", "iqlearn", "--mix_beta", "0.5"], "--mix_beta 0.5 ignored: preset 'iqlearn' is offline"),
        (["--objective", "iqlearn_online", "--rollout_every", "5", "--rollout_batch_size", "4"], "rolls out only once"),
    ],
)
def test_training_settings_that_would_not_do_what_was_asked_are_said(cli, tmp_path, flags, said):
    result = cli(*TRAIN, "--output_dir", tmp_path / "o", "--mle_warmup_steps", 0, "--il_ramp_steps", 1, *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(warning_lines(result, said)) == 1, result.stderr[-2000:]


def test_a_rollout_buffer_smaller_than_one_rollout_is_refused(cli, tmp_path):
    flags = ["--objective", "sequencematch", "--rollout_batch_size", 8, "--rollout_buffer_size", 4]
    result = cli(*TRAIN, "--output_dir", tmp_path / "o", "--mle_warmup_steps", 0, "--il_ramp_steps", 1, *flags)
    assert_user_error(result, "--rollout_buffer_size 4 < --rollout_batch_size 8", "raise --rollout_buffer_size")


def test_evaluate_reads_the_task_the_model_was_trained_on_and_says_an_unread_split(cli, tmp_path):
    data = write_jsonl(tmp_path / "text.jsonl", [{"text": "12+34 is 46"}, {"text": "1+1 is 2, 2+2 is 4"}] * 2)
    model = tmp_path / "m"
    result = cli(*TRAIN[:3], *BASE[:6], *BASE[10:], "--output_dir", model, "--task", "text", "--dataset_name", data)
    assert result.returncode == 0, result.stderr[-2000:]
    evaluated = cli("evaluate", "--model", model, "--data", data, "--split", "validation")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert warning_lines(evaluated, "evaluating as --task text, the task")
    assert warning_lines(evaluated, "--split validation ignored: with --data the rows of")
    assert "perplexity" in json.loads((model / "eval_text.json").read_text())


def test_arithmetic_models_keep_exact_match_on_data(cli, tmp_path):
    model = save_small_model(tmp_path / "m")
    data = write_jsonl(tmp_path / "q.jsonl", [{"prompt": "1+1 ", "completion": "2"}])
    result = cli("evaluate", "--model", model, "--data", data, "--output", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "accuracy" in json.loads((tmp_path / "e.json").read_text())
    assert not warning_lines(result, "evaluating as --task text")


def test_a_sweep_step_wider_than_its_range_is_refused(tmp_path):
    space = parse_space(yaml.safe_load("max_steps: {type: int, low: 100, high: 800, step: 1000}"), source="s.yaml")
    with pytest.raises(UserError, match=r"max_steps.step 1000 exceeds its range 100..800, so only 100 would be tried"):
        run_sweep({"model_config": json.loads(MODEL)}, space, metric="accuracy", trials=1, output_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_sweep_space_key_twice_is_refused(tmp_path):
    from imitlm.sweep import load_space

    space = tmp_path / "space.yaml"
    space.write_text("td_weight: {type: float, low: 0.1, high: 1}\ntd_weight: {type: float, low: 0.5, high: 2}\n")
    with pytest.raises(UserError, match=r"config key 'td_weight' is given twice in .*space.yaml \(lines 1 and 2\)"):
        load_space(space)
