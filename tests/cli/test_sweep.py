"""`imitlm sweep`: the search-space parser on hand-written specs, TPE reproducibility, and a tiny end-to-end sweep
through the CLI that checks the results files, the space, the validation split and the best trial."""

import csv
import json
import os
import socket
from pathlib import Path

import optuna
import pytest
import yaml

import imitlm.sweep.run as sweep_module
from imitlm.arguments import SweepArguments
from imitlm.cli import main
from imitlm.errors import UserError
from imitlm.sweep import METRICS, ParamSpec, check_space, load_space, parse_space
from imitlm.training.parsing import load_recipe

CONFIGS = Path(__file__).parents[2] / "configs"
SPACES = sorted(CONFIGS.glob("*_space.yaml"))


def test_parse_space_valid():
    space = parse_space(
        {
            "td_weight": {"type": "float", "low": 0.001, "high": 10, "log": True},
            "il_weight": {"type": "categorical", "choices": [0.001, 0.5, 0.999]},
            "learning_rate": {"type": "float", "low": "1e-5", "high": "1e-3", "log": True},  # YAML 1.1 strings
            "max_steps": {"type": "int", "low": 100, "high": 800, "step": 100},
        },
        source="s.yaml",
    )
    assert space["td_weight"] == ParamSpec("td_weight", "float", low=0.001, high=10.0, log=True)
    assert space["il_weight"].choices == (0.001, 0.5, 0.999)
    assert space["learning_rate"].low == 1e-5 and space["learning_rate"].high == 1e-3
    assert space["max_steps"] == ParamSpec("max_steps", "int", low=100, high=800, step=100)
    assert space["max_steps"].contains(300) and not space["max_steps"].contains(350)
    assert not space["td_weight"].contains(11.0) and not space["il_weight"].contains(0.7)


@pytest.mark.parametrize(
    "key, spec, fragment",
    [
        ("learning_rat", {"type": "float", "low": 0.1, "high": 1}, "did you mean 'learning_rate'"),
        ("output_dir", {"type": "categorical", "choices": ["a"]}, "set by the sweep"),
        ("td_weight", 3.0, "must map to a spec"),
        ("td_weight", {"type": "normal", "low": 0, "high": 1}, "type must be one of"),
        ("td_weight", {"low": 0, "high": 1}, "type must be one of"),
        ("td_weight", {"type": "float", "low": 0.1}, "needs 'high'"),
        ("td_weight", {"type": "float", "low": 1, "high": 1}, "low < high"),
        ("td_weight", {"type": "float", "low": "x", "high": 1}, "td_weight.low must be a finite number"),
        ("td_weight", {"type": "float", "low": 0, "high": 1, "log": True}, "needs low > 0"),
        ("td_weight", {"type": "float", "low": 0.1, "high": 1, "log": "yes"}, "log must be true or false"),
        ("td_weight", {"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1}, "cannot be combined"),
        ("td_weight", {"type": "float", "low": 0.1, "high": 1, "step": -0.1}, "step must be > 0"),
        ("td_weight", {"type": "float", "low": 0.1, "high": 1, "lg": True}, "unknown spec key 'lg'"),
        ("max_steps", {"type": "int", "low": 1.5, "high": 8}, "must be an integer"),
        ("il_weight", {"type": "categorical", "choices": []}, "non-empty list"),
        ("il_weight", {"type": "categorical", "choices": [[0.1]]}, "choices must be numbers"),
        ("il_weight", {"type": "categorical", "choices": [0.5], "low": 0}, "unknown spec key 'low'"),
    ],
)
def test_parse_space_errors_name_the_key_and_file(key, spec, fragment):
    with pytest.raises(UserError) as error:
        parse_space({"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}, key: spec}, source="s.yaml")
    message = str(error.value)
    assert "s.yaml" in message and key in message and fragment in message and "\n" not in message


def test_space_file_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_space(tmp_path / "missing.yaml")
    for text in ("", "- td_weight\n", "td_weight: {type: float, low: [\n"):
        (tmp_path / "s.yaml").write_text(text)
        with pytest.raises(UserError, match="s.yaml"):
            load_space(tmp_path / "s.yaml")


def test_values_the_config_refuses_are_caught_before_training():
    space = parse_space({"il_weight": {"type": "float", "low": 0.5, "high": 2.0}}, source="s.yaml")
    with pytest.raises(UserError, match=r"s.yaml: il_weight=2.0 is refused: --il_weight must be in \[0, 1\]"):
        check_space(space, {"model_config": {"model_type": "gpt2"}}, source="s.yaml")


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_shipped_spaces_parse_against_their_recipe(path):
    space = load_space(path)
    header = path.read_text().splitlines()[1]
    assert header.startswith("# Run: imitlm sweep --config ")
    recipe = header.split("--config ")[1].split()[0]
    check_space(space, load_recipe(Path(__file__).parents[2] / recipe), source=str(path))


def test_metric_choices_match_the_registry():
    field = next(f for f in SweepArguments.__dataclass_fields__.values() if f.name == "metric")
    assert field.metadata["choices"] == list(METRICS)


def test_tpe_is_reproducible_and_stays_in_the_space():
    space = load_space(CONFIGS / "sweep_sequencematch_space.yaml")

    def params(seed):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(lambda t: sum(float(s.suggest(t)) for s in space.values()), n_trials=15)
        return [t.params for t in study.trials]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = params(3)
    assert first == params(3) and first != params(4)
    assert all(space[k].contains(v) for p in first for k, v in p.items())


# ---- end to end through the CLI ------------------------------------------------------------------

TINY_RECIPE = {
    "task": "arithmetic",
    "difficulty": 0,
    "num_train_examples": 64,
    "num_eval_examples": 8,
    "max_length": 48,
    "model_config": {"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64},
    "objective": "mle",
    "use_cpu": True,
    "per_device_train_batch_size": 8,
    "max_steps": 3,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "disable_tqdm": True,
    "max_new_tokens": 6,
    "seed": 0,
}


def tiny_sweep(tmp_path, monkeypatch, metric, extra=()):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    space = tmp_path / "space.yaml"
    space.write_text(
        "learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}\n"
        "gamma: {type: categorical, choices: [0.9, 0.99]}\n"
        "max_steps: {type: int, low: 2, high: 3}\n"
    )
    requested = []  # (split, n) of every arithmetic question set the sweep asks for

    def spy(split, num_examples, seed, difficulty):
        requested.append((split, num_examples))
        return real(split, num_examples, seed=seed, difficulty=difficulty)

    real = sweep_module.arithmetic_rows
    monkeypatch.setattr(sweep_module, "arithmetic_rows", spy)
    out = tmp_path / "sweep"
    argv = ["sweep", "--config", str(recipe), "--space", str(space), "--trials", "2", "--metric", metric]
    argv += ["--num_eval_examples", "6", "--output_dir", str(out), "--sampler_seed", "1", *extra]
    assert main(argv) == 0
    return out, load_space(space), requested


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tmp_path, monkeypatch):
    # `--seed 5` is a train flag (not the sweep's --seeds): it overrides the recipe
    out, space, requested = tiny_sweep(tmp_path, monkeypatch, "accuracy_forced_0.1", extra=["--seed", "5"])
    result = json.loads((out / "sweep.json").read_text())
    assert result["metric"] == "accuracy_forced_0.1" and result["direction"] == "maximize"
    assert result["split"] == "validation" and result["seeds"] == [5]
    assert requested == [("validation", 6)] * 2  # scored on validation, never test
    trials = result["trials"]
    assert [t["trial"] for t in trials] == [0, 1] and all(t["state"] == "COMPLETE" for t in trials)
    for trial in trials:
        assert set(trial["params"]) == set(space)
        assert all(space[k].contains(v) for k, v in trial["params"].items())
        assert 0.0 <= trial["value"] <= 1.0 and trial["seconds"] > 0
        settings = json.loads((out / f"trial_{trial['trial']}" / "config.json").read_text())["imitlm"]
        assert settings["gamma"] == trial["params"]["gamma"]  # the trial trained with its parameters
    best = max(trials, key=lambda t: t["value"])  # first of equal values, as Optuna
    assert result["best"]["trial"] == best["trial"] and result["best"]["params"] == best["params"]
    with open(out / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial"] for r in rows] == ["0", "1"]
    assert [float(r["accuracy_forced_0.1"]) for r in rows] == [t["value"] for t in trials]
    assert [float(r["learning_rate"]) for r in rows] == [t["params"]["learning_rate"] for t in trials]
    assert (out / "sweep.png").stat().st_size > 0


@pytest.mark.slow
def test_tiny_sweep_perplexity_over_two_seeds(tmp_path, monkeypatch):
    out, _, requested = tiny_sweep(tmp_path, monkeypatch, "perplexity", extra=["--seeds", "2", "--logging_steps", "2"])
    result = json.loads((out / "sweep.json").read_text())
    assert result["direction"] == "minimize" and result["seeds"] == [0, 1]
    assert requested == [("validation", 6)] * 4
    for trial in result["trials"]:
        assert len(trial["seed_values"]) == 2 and trial["value"] == pytest.approx(sum(trial["seed_values"]) / 2)
        assert all((out / f"trial_{trial['trial']}" / f"seed_{s}" / "model.safetensors").is_file() for s in (0, 1))
    best = min(result["trials"], key=lambda t: t["value"])
    assert result["best"]["trial"] == best["trial"]


@pytest.mark.slow
def test_text_sweep_scores_perplexity_on_the_validation_file(tmp_path, monkeypatch):
    words = ["the cat sat on the mat", "a dog ran in the park", "the sun is warm today", "we read a good book"]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": words[i % 4]}) + "\n" for i in range(32)))
    valid = tmp_path / "valid.jsonl"
    valid.write_text("".join(json.dumps({"text": w[::-1]}) + "\n" for w in words))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "task": "text", "dataset_name": str(train), "max_steps": 2}))
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}\n")
    loaded = []
    real = sweep_module.load_raw_dataset

    def spy(name, split="train", config_name=None):
        loaded.append(name)
        return real(name, split, config_name)

    monkeypatch.setattr(sweep_module, "load_raw_dataset", spy)
    out = tmp_path / "sweep"
    argv = ["sweep", "--config", str(recipe), "--space", str(space), "--trials", "1", "--metric", "perplexity"]
    assert main([*argv, "--output_dir", str(out)]) == 2  # a local file has one split: no validation rows
    assert main([*argv, "--output_dir", str(out), "--validation_data", str(valid)]) == 0
    assert loaded == [str(valid)]
    result = json.loads((out / "sweep.json").read_text())
    assert result["split"] == str(valid) and result["trials"][0]["value"] > 1.0


def test_sweep_user_errors_exit_2(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    space = tmp_path / "space.yaml"
    space.write_text("td_wieght: {type: float, low: 0.1, high: 1}\n")
    assert main(["sweep", "--config", str(recipe), "--space", str(space), "--output_dir", str(tmp_path)]) == 2
    assert "td_wieght" in capsys.readouterr().err
    space.write_text("td_weight: {type: float, low: 0.1, high: 1}\n")
    argv = ["sweep", "--config", str(recipe), "--space", str(space), "--output_dir", str(tmp_path)]
    assert main([*argv, "--td_weight", "0.5"]) == 2
    assert main([*argv, "--not_an_option", "1"]) == 2
    text = recipe.with_name("text.yaml")
    text.write_text(yaml.safe_dump({**TINY_RECIPE, "task": "text", "dataset_name": str(recipe)}))
    assert main(["sweep", "--config", str(text), "--space", str(space), "--metric", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert "given as a flag and searched" in err and "'--not_an_option'" in err and "perplexity" in err
    with pytest.raises(SystemExit) as done:
        main(["sweep", "--help"])
    assert done.value.code == 0


@pytest.mark.slow
def test_best_is_the_argmax_and_a_diverging_trial_fails_alone(tmp_path, monkeypatch):
    """run_sweep with training replaced by a known function of the parameters: distinct values, one divergence."""
    from imitlm.training.checkpoints import NonFiniteError

    def fake(base, params, out, seed, metric, settings):
        if params["td_weight"] > 5.0:
            raise NonFiniteError("non-finite loss at step 3")
        return params["td_weight"] / 10 + seed / 100

    monkeypatch.setattr(sweep_module, "train_and_score", fake)
    space = parse_space({"td_weight": {"type": "float", "low": 0.0, "high": 10.0}}, source="s.yaml")
    base = {"model_config": {"model_type": "gpt2"}, "seed": 1}
    result = sweep_module.run_sweep(base, space, metric="accuracy", trials=8, output_dir=tmp_path, seeds=2)
    trials = result["trials"]
    failed = [t for t in trials if t["state"] == "FAIL"]
    done = [t for t in trials if t["state"] == "COMPLETE"]
    assert failed and done and all("non-finite" in t["error"] and t["value"] is None for t in failed)
    assert all(t["value"] == pytest.approx(t["params"]["td_weight"] / 10 + 0.015) for t in done)  # seeds 1, 2
    best = max(done, key=lambda t: t["value"])
    assert result["best"]["trial"] == best["trial"] and result["best"]["value"] == best["value"]
    assert json.loads((tmp_path / "sweep.json").read_text())["best"] == result["best"]
    with open(tmp_path / "sweep.csv") as handle:
        assert [r["state"] for r in csv.DictReader(handle)] == [t["state"] for t in trials]
    assert (tmp_path / "sweep.png").is_file()


def test_a_used_or_busy_sweep_folder_is_refused(tmp_path, monkeypatch):
    """A second sweep into the folder of a first (the default runs/sweep included) would replace its trial models and
    sweep.json: refused, with nothing touched; a folder another sweep is writing (its lock) too."""
    from imitlm.training.run_lock import LOCK_FILE

    monkeypatch.setattr(sweep_module, "train_and_score", lambda base, params, out, *rest: params["td_weight"])
    space = parse_space({"td_weight": {"type": "float", "low": 0.0, "high": 10.0}}, source="s.yaml")
    base = {"model_config": {"model_type": "gpt2"}}
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": 0}))
    with pytest.raises(UserError, match="is in use by another imitlm run"):
        sweep_module.run_sweep(base, space, metric="accuracy", trials=1, output_dir=busy)
    out = tmp_path / "sweep"
    sweep_module.run_sweep(base, space, metric="accuracy", trials=2, output_dir=out)
    first = (out / "sweep.json").read_text()
    with pytest.raises(UserError, match=r"already holds a sweep \(sweep.csv, sweep.json\); .* choose another"):
        sweep_module.run_sweep(base, space, metric="accuracy", trials=2, output_dir=out, sampler_seed=3)
    assert (out / "sweep.json").read_text() == first
    assert not (out / LOCK_FILE).exists()
