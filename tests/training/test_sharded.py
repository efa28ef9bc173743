"""FSDP2 and DeepSpeed ZeRO-3 through the Trainer, on two CPU processes (gloo).

FSDP on CPU needs `cpu_sharding.allow_cpu_fsdp` (accelerate enables it only on accelerators); DeepSpeed runs as
is with `use_cpu`. Checked: the same losses as one process with the same global batch; sharded parameters;
online rollouts with different samples but the same number of forwards on every rank; stopping and resuming from
a sharded checkpoint; `imitlm train` saving a whole model (full weights and LoRA merged) equal to a one-process
run. The user errors for what cannot run are at the end.
"""

import json
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from imitlm.cli import main

from training.helpers import launch, tiny_config, tiny_setup

pytestmark = pytest.mark.slow  # FSDP / DeepSpeed runs under torchrun (and their shared fixtures)

pytest.importorskip("deepspeed")  # part of the dev extra; an install without it skips these
HERE = Path(__file__).parent
WORKER, CLI = str(HERE / "sharded_worker.py"), str(HERE / "sharded_cli.py")
MAX_NEW_TOKENS = 6  # helpers.tiny_config


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A saved tiny model: ZeRO-3 initialises fresh weights in its own way, so every run loads the same ones."""
    folder = tmp_path_factory.mktemp("base")
    model, tokenizer, _ = tiny_setup(tiny_config(folder))
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return str(folder / "model")


def run_worker(tmp_path, backend, presets, base_model, processes, mode):
    out = tmp_path / f"{backend}-{processes}"
    out.mkdir()
    launch(WORKER, [backend, presets, base_model, str(out), str(8 // processes), mode], processes)
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in range(processes)]


@pytest.fixture(scope="module")
def one_process_losses(tmp_path_factory, base_model):
    (result,) = run_worker(tmp_path_factory.mktemp("single"), "none", "mle,iqlearn", base_model, 1, "losses")
    return result


@pytest.mark.parametrize("backend", ["fsdp", "deepspeed"])
def test_sharded_losses_match_one_process(tmp_path, base_model, one_process_losses, backend):
    ranks = run_worker(tmp_path, backend, "mle,iqlearn", base_model, 2, "losses")
    for preset in ("mle", "iqlearn"):
        run = ranks[0][preset]
        assert run["world_size"] == 2 and run["sharded"]
        assert len(run["losses"]) == 3
        assert run["losses"] == pytest.approx(one_process_losses[preset]["losses"], rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("backend", ["fsdp", "deepspeed"])
def test_sharded_sequencematch_rollouts_and_resume(tmp_path, base_model, backend):
    ranks = [r["sequencematch"] for r in run_worker(tmp_path, backend, "sequencematch", base_model, 2, "resume")]
    first, second = ranks
    assert first["sharded"] and first["rollouts"] and first["rollouts"] != second["rollouts"]
    # rollouts at steps 0, 2, 4, each exactly max_new_tokens forwards on every rank (synced_ranks): no rank waits
    assert first["rollout_forwards"] == second["rollout_forwards"] == 3 * MAX_NEW_TOKENS
    assert first["resumed_step"] == 6 and first["same_replay"]
    assert first["resumed_losses"][3:] == pytest.approx(first["losses"][3:], rel=1e-5, abs=1e-5)
    assert first["max_weight_difference"] < 2e-5 < 1e-3 < first["max_weight_change"]


TINY_RECIPE = [
    "--task",
    "arithmetic",
    "--difficulty",
    "0",
    "--num_train_examples",
    "64",
    "--num_eval_examples",
    "8",
    "--max_length",
    "48",
    "--use_cpu",
    "true",
    "--max_steps",
    "4",
    "--logging_steps",
    "1",
    "--save_steps",
    "2",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
    "--adam_epsilon",
    "1e-4",
]
DEEPSPEED_FILE = {
    "zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
}


def train_cli(tmp_path, name, base_model, extra, processes, env=None):
    out = tmp_path / name
    args = [
        "train",
        *TINY_RECIPE,
        "--model_name_or_path",
        base_model,
        "--output_dir",
        str(out),
        "--per_device_train_batch_size",
        str(8 // processes),
        *extra,
    ]
    launch(CLI, args, processes, env)
    return AutoModelForCausalLM.from_pretrained(out).state_dict()


@pytest.mark.parametrize(
    "backend, extra",
    [
        ("fsdp", ["--objective", "mle_bksp", "--learning_rate", "1e-3"]),
        (
            "deepspeed",
            [
                "--objective",
                "mle",
                "--use_peft",
                "true",
                "--lora_r",
                "4",
                "--lora_dropout",
                "0",
                "--learning_rate",
                "1e-2",
            ],
        ),
    ],
    ids=["fsdp-full-mle_bksp", "deepspeed-lora-mle"],
)
def test_cli_sharded_run_saves_the_whole_model(tmp_path, base_model, backend, extra):
    one = train_cli(tmp_path, "one", base_model, [*extra, "--ddp_backend", "gloo"], 1)
    if backend == "fsdp":
        settings, env = ["--fsdp", "full_shard"], {"IMITLM_TEST_CPU_FSDP": "1"}
    else:
        (tmp_path / "ds.json").write_text(json.dumps(DEEPSPEED_FILE))
        settings, env = ["--deepspeed", str(tmp_path / "ds.json")], None
    two = train_cli(tmp_path, "two", base_model, [*extra, "--ddp_backend", "gloo", *settings], 2, env)
    base = AutoModelForCausalLM.from_pretrained(base_model).state_dict()
    assert one.keys() == two.keys()
    moved = max(float((one[k][: len(base[k])] - base[k]).abs().max()) for k in base)
    difference = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert difference < 2e-5 < 1e-3 < moved, (difference, moved)
    if "mle_bksp" in extra:
        assert two["transformer.wte.weight"].shape[0] == base["transformer.wte.weight"].shape[0] + 1  # <bksp> row


def test_fsdp_in_one_process_is_a_one_line_error(tmp_path, base_model, capsys):
    code = main(
        [
            "train",
            *TINY_RECIPE,
            "--model_name_or_path",
            base_model,
            "--output_dir",
            str(tmp_path / "o"),
            "--fsdp",
            "full_shard",
        ]
    )
    assert code == 2
    assert "--fsdp shards over several processes" in capsys.readouterr().err


def test_zero3_without_gathered_save_is_refused_before_training(tmp_path, base_model, capsys):
    (tmp_path / "ds.json").write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    code = main(
        [
            "train",
            *TINY_RECIPE,
            "--model_name_or_path",
            base_model,
            "--output_dir",
            str(tmp_path / "o"),
            "--deepspeed",
            str(tmp_path / "ds.json"),
        ]
    )
    assert code == 2
    assert "stage3_gather_16bit_weights_on_model_save" in capsys.readouterr().err
    assert not (tmp_path / "o" / "checkpoint-2").exists()


def test_processes_that_each_train_alone_are_an_error(tmp_path, base_model):
    """DeepSpeed under torchrun on a machine without GPUs, without --use_cpu: each process would train alone."""
    (tmp_path / "ds.json").write_text(json.dumps(DEEPSPEED_FILE))
    recipe = [a if a != "true" or TINY_RECIPE[i - 1] != "--use_cpu" else "false" for i, a in enumerate(TINY_RECIPE)]
    done = launch(
        CLI,
        [
            "train",
            *recipe,
            "--model_name_or_path",
            base_model,
            "--output_dir",
            str(tmp_path / "o"),
            "--deepspeed",
            str(tmp_path / "ds.json"),
        ],
        2,
        check=False,
    )
    assert done.returncode != 0
    assert "imitlm: error: 2 processes were launched but training sees 1" in done.stderr
