"""Option mistakes of every command, refused at parse time: exit code 2, one line naming the option and the fix,
and nothing done before (no model loaded, no file written)."""

import pytest
import yaml

from cli.cli_support import BASE, MODEL, assert_user_error, save_small_model, warning_lines, write_jsonl

TRAIN_MISTAKES = [
    (["--max_stepz", "3"], "did you mean --max_steps?"),
    (["--max_steps", "abc"], "invalid int value: 'abc'"),
    (["--eval_strategy", "sometimes"], "invalid choice"),
    (["--fsdp", "foo"], "Unknown `fsdp` option: foo"),
    (["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be a positive integer"),
    (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be a positive integer"),
    (["--rollout_every", "0"], "--rollout_every must be a positive integer"),
    (["--rollout_batch_size", "-1"], "--rollout_batch_size must be a positive integer"),
    (["--max_new_tokens", "0"], "--max_new_tokens must be a positive integer"),
    (["--num_train_examples", "0"], "--num_train_examples must be a positive integer"),
    (["--rollout_temperature", "0"], "--rollout_temperature must be a number > 0"),
    (["--lora_r", "0"], "--lora_r must be a positive integer"),
    (["--noise_prob", "0.1"], "preset 'mle' has no <bksp>"),
    (["--dataset_name", "data.jsonl"], "--dataset_name is read only with --task text"),
    (["--model_name_or_path", "gpt2"], "are both set; keep one of them"),
    (["--max_steps", "0"], "would train 0 steps"),
    (["--objective", "iqlearn", "--mle_warmup_steps", "1"], "the whole run would be plain MLE"),
    (["--objective", "iqlearn", "--il_ramp_steps", "9"], "the run would end before iqlearn reaches its full"),
    (["--il_ramp_steps", "-1"], "--il_ramp_steps must be >= 0"),
    (["--lr_scheduler_type", "constant", "--warmup_steps", "10"], "use --lr_scheduler_type constant_with_warmup"),
    (["--eval_strategy", "steps", "--num_eval_examples", "0"], "needs evaluation data"),
    (["--report_to", "wandb"], "not installed"),
    (["--deepspeed", "nope.json"], "nope.json"),
    (["--resume_from_checkpoint", "/nonexistent/checkpoint-3"], "not found"),
    (["--resume_from_checkpoint", "last"], "no complete checkpoint to resume"),
    (["--model_config", '{"model_type": "no_such_model"}'], "bad model_config"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--learning_rate", "nan"], "learning_rate must be a number > 0, got nan"),
    (["--logging_steps", "0"], "logging_steps"),
    (["--use_peft", "true", "--lora_target_modules", "no_such_layer"], "check --lora_target_modules"),
]


@pytest.mark.parametrize("flags, fragment", TRAIN_MISTAKES, ids=[" ".join(f)[:40] for f, _ in TRAIN_MISTAKES])
def test_train_option_mistakes(cli, tmp_path, flags, fragment):
    model = ["--model_config", MODEL] if "--model_config" not in flags else []
    assert_user_error(cli("train", *model, "--output_dir", tmp_path / "o", *BASE, *flags), fragment)
    assert not (tmp_path / "o" / "imitlm_run.json").exists()


def test_text_task_options(cli, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}])
    text = ["train", "--model_config", MODEL, "--output_dir", tmp_path / "o", *BASE, "--task", "text"]
    assert_user_error(cli(*text, "--dataset_name", data, "--eval_strategy", "steps"), "needs evaluation data")
    refused = cli(*text, "--dataset_name", data, "--dataset_test_split", "test")
    assert_user_error(refused, "is a local file", "would be the training rows")


def test_options_the_run_would_not_read_are_said(cli, tmp_path):
    flags = ["--rollout_every", "5", "--lora_r", "4", "--resume_from_checkpoint", "last"]  # then stops: no checkpoint
    result = cli("train", "--model_config", MODEL, "--output_dir", tmp_path / "o", *BASE, *flags)
    assert_user_error(result, "no complete checkpoint")
    assert len(warning_lines(result, "--rollout_every ignored: the preset has no rollouts")) == 1
    assert len(warning_lines(result, "--lora_r ignored: --use_peft is off")) == 1


def test_paths_of_the_wrong_kind(cli, tmp_path):
    (tmp_path / "f").write_text("x")
    train = ["train", "--model_config", MODEL, "--output_dir", tmp_path / "o", *BASE]
    assert_user_error(cli("train", "--config", tmp_path), "is a directory; give a YAML file")
    assert_user_error(cli(*train, "--resume_from_checkpoint", tmp_path / "f"), "is not a directory")
    assert_user_error(cli(*train, "--tokenizer_name_or_path", tmp_path / "f"), "is a file; give the tokenizer's")


def test_output_dir_that_is_a_file(cli, tmp_path):
    (tmp_path / "f").write_text("x")
    assert_user_error(cli("train", "--model_config", MODEL, "--output_dir", tmp_path / "f", *BASE), "is a file")
    assert_user_error(cli("demo", "--quick", "--output_dir", tmp_path / "f"), "--output_dir", "is a file")


YAML_MISTAKES = [
    ("max_steps: ten\n", "'max_steps'", "must be an integer"),
    ("max_steps: 2.5\n", "'max_steps'", "must be an integer"),
    ("learning_rate: [1, 2]\n", "'learning_rate'", "must be a number"),
    ("use_cpu: maybe\n", "'use_cpu'", "true or false"),
    ("eval_strategy: sometimes\n", "'eval_strategy'", "not one of"),
    ("model_config: 3\n", "'model_config'", "mapping"),
]


@pytest.mark.parametrize("text, key, fragment", YAML_MISTAKES)
def test_wrong_typed_yaml_values_name_the_key_and_file(cli, tmp_path, text, key, fragment):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    assert_user_error(cli("train", "--config", recipe, "--output_dir", tmp_path / "o"), key, "r.yaml", fragment)


def test_yaml_values_of_the_right_type_pass(tmp_path):
    from imitlm.training.parsing import parse_train_args

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model_config": {"model_type": "gpt2"}, "learning_rate": "1e-4", "max_steps": 3}))
    config = parse_train_args(["--config", str(recipe), "--use_cpu", "true", "--output_dir", str(tmp_path / "o")])
    assert config.learning_rate == 1e-4 and config.max_steps == 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_small_model(tmp_path_factory.mktemp("model") / "m")


def command_mistakes(model, tmp_path):
    (tmp_path / "file").write_text("x")
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "1 + 1 = ", "completion": "2"}])
    return [
        (["generate", "--model", model, "--prompt", "a", "--temperature", "-1"], "--temperature must be >= 0"),
        (["generate", "--model", model, "--prompt", "a", "--num_return_sequences", "0"], "must be a positive"),
        (["generate", "--model", model, "--prompt", "a", "--top_p", "0"], "--top_p must be in (0, 1]"),
        (["generate", "--model", model, "--prompt", "a", "--top_k", "-2"], "--top_k must be >= 0"),
        (["generate", "--model", model, "--prompt", "a", "--max_new_tokens", "0"], "--max_new_tokens must be"),
        (["generate", "--model", model], "the following arguments are required: --prompt"),
        (["evaluate", "--model", model, "--batch_size", "0"], "--batch_size must be a positive integer"),
        (["evaluate", "--model", model, "--num_examples", "-1"], "--num_examples must be >= 0"),
        (["evaluate", "--model", model, "--do_sample", "true", "--temperature", "0"], "greedy decoding"),
        (["evaluate", "--model", model, "--split", "dev"], "invalid choice: 'dev'"),
        (["evaluate", "--model", model, "--output", tmp_path], "is a directory"),
        (["evaluate", "--model", model, "--output", tmp_path / "file" / "r.json"], "is a file, not a directory"),
        (["evaluate", "--model", model, "--task", "arithmetic", "--data", data], "drop one of them"),
        (["evaluate", "--model", model, "--prompt_tokens", "0"], "--prompt_tokens must be a positive integer"),
        (["rewards", "--model", model, "--data", data, "--gamma", "2"], "--gamma must be in (0, 1]"),
        (["rewards", "--model", model, "--data", data, "--q_temperature", "0"], "--q_temperature must be a number > 0"),
        (["rewards", "--model", model, "--data", data, "--batch_size", "0"], "--batch_size must be a positive"),
        (["rewards", "--model", model, "--data", tmp_path / "no.jsonl"], "data file not found"),
        (["rewards", "--model", model, "--data", data, "--output", tmp_path], "is a directory"),
        (["bench", "--output", tmp_path], "is a directory"),
        (["bench", "--device", "tpu"], "invalid choice"),
        (["sweep", "--config", "c.yaml", "--space", "s.yaml", "--trials", "0"], "--trials must be a positive"),
        (["sweep", "--config", "c.yaml", "--space", "s.yaml", "--seeds", "0"], "--seeds must be a positive"),
        (["sweep", "--config", "c.yaml", "--space", "s.yaml", "--trails", "3"], "sweep`; did you mean --trials?"),
        (["trian"], "unknown command 'trian'; did you mean train?"),
        (["evaluate", "--model", model, "--difficulty", "7"], "--difficulty must be 0..3"),
        (["evaluate", "--model", model, "--task", "arithmetic", "--num_examples", "0"], "give a number of arithmetic"),
        (
            ["evaluate", "--model", model, "--task", "text", "--data", data, "--mauve_features_model", tmp_path / "no"],
            "--mauve_features_model",
        ),
        (["generate", "--model", model, "--prompt", "a", "--seed", "-3"], "--seed must be >= 0"),
        (["generate", "--model", "no-such-org/no-such-model", "--prompt", "a"], "is not a local directory"),
        (["demo", "--quick", "--full"], "contradict each other"),
        (["bench", "--only", "train,speed"], "unknown measurement 'speed'"),
    ]


def test_command_option_mistakes(cli, model_dir, tmp_path):
    for args, fragment in command_mistakes(model_dir, tmp_path):
        assert_user_error(cli(*args), fragment)
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.json"))  # nothing written


def test_sampling_options_that_would_not_be_read_are_said(cli, model_dir):
    greedy = cli(
        "generate", "--model", model_dir, "--prompt", "1 + 1 ", "--temperature", 0, "--top_k", 5, "--max_new_tokens", 1
    )
    assert greedy.returncode == 0 and len(warning_lines(greedy, "--top_k/--top_p ignored")) == 1
    evaluated = cli(
        "evaluate",
        "--model",
        model_dir,
        "--task",
        "arithmetic",
        "--num_examples",
        2,
        "--max_new_tokens",
        1,
        "--temperature",
        0.5,
        "--output",
        model_dir / "e.json",
    )
    assert evaluated.returncode == 0 and len(warning_lines(evaluated, "--temperature 0.5 ignored")) == 1


def test_unloadable_models(cli, model_dir, tmp_path):
    import shutil

    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(cli("generate", "--model", empty, "--prompt", "a"), "holds no model (no config.json)")
    assert_user_error(cli("evaluate", "--model", tmp_path / "nowhere"), "model directory not found")
    no_tokenizer = shutil.copytree(model_dir, tmp_path / "no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (no_tokenizer / name).unlink()
    assert_user_error(cli("generate", "--model", no_tokenizer, "--prompt", "a"), "has no tokenizer")
    corrupt = shutil.copytree(model_dir, tmp_path / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated by a full disk or a killed copy
    assert_user_error(cli("generate", "--model", corrupt, "--prompt", "a"), "could not load the model", "corrupt")
    (corrupt / "model.safetensors").unlink()
    assert_user_error(cli("rewards", "--model", corrupt, "--data", "x.jsonl"), "no weights")
    train = ["train", "--output_dir", tmp_path / "o", *BASE, "--model_name_or_path", corrupt]
    assert_user_error(cli(*train), "--model_name_or_path", "no weights")
