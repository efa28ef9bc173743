"""Run by tests under `torchrun --nproc_per_node 2` with FSDP2 or DeepSpeed ZeRO-3 on CPU, and in one process.

argv: backend (fsdp | deepspeed | none), presets (comma-separated), model directory, output directory,
per-device batch, mode (`losses`: 3 steps; `resume`: 6 steps straight, then stopped at 3 and resumed).
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("DS_ACCELERATOR", "cpu")

from imitlm.training.trainer import ImitationTrainer  # noqa: E402

from training.cpu_sharding import allow_cpu_fsdp  # noqa: E402
from training.helpers import end_worker, tiny_config, tiny_setup  # noqa: E402
from training.test_resume import StopAt  # noqa: E402

DEEPSPEED_ZERO3 = {
    "zero_optimization": {"stage": 3},
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    # no "optimizer" section: the Trainer's torch AdamW, as in the one-process run (DeepSpeed's own AdamW would compile
    # a C++ extension first, minutes on 2 cores)
    "zero_allow_untested_optimizer": True,
}
SHARDING = {
    "none": {},
    "fsdp": {"fsdp": True, "fsdp_config": {"version": 2}},
    "deepspeed": {"deepspeed": DEEPSPEED_ZERO3},
}


def make_trainer(backend, preset, model_dir, out, batch_size, max_steps, save_steps=None):
    saving = {"save_strategy": "steps", "save_steps": save_steps} if save_steps else {}
    config = tiny_config(
        out,
        objective=preset,
        model_name_or_path=model_dir,
        model_config=None,
        per_device_train_batch_size=batch_size,
        max_steps=max_steps,
        rollout_every=2,
        ddp_backend="gloo" if backend != "none" else None,
        **SHARDING[backend],
        **saving,
        adam_epsilon=1e-4,
    )  # damps Adam's amplification of float noise in near-zero gradients:
    # sums over gloo are not bit-reproducible, and with eps=1e-8 that noise alone moves weights by ~1e-4
    model, tokenizer, data = tiny_setup(config)  # after the config: ZeRO-3 loads the weights partitioned
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.rollout_forwards = 0
    trainer.model.register_forward_pre_hook(lambda *_: count_rollout_forward(trainer))
    return trainer


def count_rollout_forward(trainer):
    if not trainer.model.training:  # rollouts run in eval mode; training forwards do not
        trainer.rollout_forwards += 1


def full_weights(trainer):
    """Every parameter gathered whole (DTensor shards or ZeRO-3 partitions), as CPU tensors."""
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    if trainer.is_deepspeed_enabled:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters())):
            return {name: p.detach().clone() for name, p in model.named_parameters()}
    return {
        name: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().clone()
        for name, p in model.named_parameters()
    }


def sharded(trainer) -> bool:
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    first = next(model.parameters())
    return hasattr(first, "ds_id") or type(first).__name__ == "DTensor"


def run_losses(backend, preset, model_dir, out, batch_size):
    trainer = make_trainer(backend, preset, model_dir, out / preset, batch_size, 3)
    trainer.train()
    return {
        "world_size": trainer.args.world_size,
        "sharded": sharded(trainer),
        "losses": [row["loss"] for row in trainer.state.log_history if "loss" in row],
    }


def run_resume(backend, preset, model_dir, out, batch_size):
    """6 steps straight; then 3 steps, a stop, and a resume from the checkpoint to step 6."""
    trainer = make_trainer(backend, preset, model_dir, out / "straight", batch_size, 6)
    initial = full_weights(trainer)
    trainer.train()
    straight = full_weights(trainer)
    first = make_trainer(backend, preset, model_dir, out / "resumed", batch_size, 6, save_steps=3)
    first.add_callback(StopAt(3))
    first.train()
    second = make_trainer(backend, preset, model_dir, out / "resumed", batch_size, 6, save_steps=3)
    second.train(resume_from_checkpoint=str(out / "resumed" / "out" / "checkpoint-3"))
    resumed = full_weights(second)
    return {
        "world_size": trainer.args.world_size,
        "sharded": sharded(trainer),
        "losses": [row["loss"] for row in trainer.state.log_history if "loss" in row],
        "rollouts": trainer.replay.items,
        "rollout_forwards": trainer.rollout_forwards,
        "resumed_step": second.state.global_step,
        "resumed_losses": [row["loss"] for row in second.state.log_history if "loss" in row],
        "same_replay": second.replay.items == trainer.replay.items,
        "max_weight_change": max(float((straight[n] - initial[n]).abs().max()) for n in straight),
        "max_weight_difference": max(float((straight[n] - resumed[n]).abs().max()) for n in straight),
    }


def main(backend, presets, model_dir, out, batch_size, mode):
    if backend == "fsdp":
        allow_cpu_fsdp()
    out = Path(out)
    run = run_losses if mode == "losses" else run_resume
    results = {preset: run(backend, preset, model_dir, out, batch_size) for preset in presets.split(",")}
    rank = int(os.environ.get("RANK", "0"))
    (out / f"result_{rank}.json").write_text(json.dumps(results))
    end_worker()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
