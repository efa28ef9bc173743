"""What an output directory holds, and the rules that keep a run from being silently lost:

- a directory that holds a trained model or checkpoints is never trained into again unless the user says how:
  `--resume_from_checkpoint` (continue it) or `--overwrite_output_dir` (replace it: when the new run starts, the old
  model and checkpoints are moved into `previous_run/` inside the directory, so `resume last` can never pick a
  checkpoint of the old run; they are deleted only once the new run has saved its model, and moved back when it
  fails before its first checkpoint; so a model trained in place, `--model_name_or_path X --output_dir X`, is
  never lost);
- one run at a time writes a directory (`run_lock`);
- `imitlm_run.json` (which run the directory holds) is written when training starts, not at set-up, so a run that
  failed before training does not lock its directory;
- a checkpoint is resumed only when every file resuming reads is there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path

from transformers import TrainerCallback

from imitlm.errors import UserError
from imitlm.training.checkpoints import checkpoint_folders, is_complete, last_complete_checkpoint, shape_mismatches
from imitlm.training.run_lock import run_lock

logger = logging.getLogger(__name__)
RUN_FILE = "imitlm_run.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
# What a finished run leaves besides the tokenizer: removed with the checkpoints on --overwrite_output_dir.
PREVIOUS = "previous_run"  # a run being replaced, until the new one has saved its model
RUN_OUTPUTS = ("config.json", "generation_config.json", "training_args.bin", "trainer_state.json", "log_history.json")


def run_signature(config) -> dict:
    """What identifies a run: every option except the ones that only say where and how long."""
    data = config.to_dict()
    for key in (
        "output_dir",
        "logging_dir",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "max_steps",
        "num_train_epochs",
        "report_to",
        "disable_tqdm",
        "save_steps",
        "logging_steps",
        "allow_unknown_chars",
    ):
        data.pop(key, None)
    return json.loads(json.dumps(data, default=str))


def resume_requested(config) -> bool:
    return config.resume_from_checkpoint not in (None, "", "false", "False")


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES) or any(folder.glob("model-*.safetensors"))


def previous_outputs(output_dir: str | Path) -> list[str]:
    """The trained things a directory holds: its final model and its checkpoints (names for a message)."""
    root = Path(output_dir)
    held = ["a trained model"] if has_weights(root) or (root / "adapter").is_dir() else []
    checkpoints = [path.name for _, path in checkpoint_folders(root)]
    if checkpoints:
        held.append(f"checkpoints ({', '.join(checkpoints[:4])}{', ...' if len(checkpoints) > 4 else ''})")
    return held


def check_output_dir(config, resume: bool | None = None) -> None:
    """Refuse to replace a trained model or checkpoints, or to resume a different run, before any work.
    ``resume``: whether this run resumes (None: read `--resume_from_checkpoint`)."""
    output = Path(config.output_dir)
    resume = resume_requested(config) if resume is None else resume
    if getattr(config, "overwrite_output_dir", False) and not resume or not output.is_dir():
        return
    if resume:
        check_same_run(config)
        return
    held = previous_outputs(output)
    if held:
        raise UserError(
            f"{config.output_dir} already holds {' and '.join(held)}; pass --resume_from_checkpoint last to "
            "continue that run, --overwrite_output_dir to replace it, or choose another --output_dir"
        )


def check_same_run(config) -> None:
    path = Path(config.output_dir) / RUN_FILE
    if not path.is_file():
        return
    previous, current = json.loads(path.read_text()), run_signature(config)
    if previous != current:
        changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
        raise UserError(
            f"{config.output_dir} already holds a different run (differs in: {', '.join(changed[:5])}); resume "
            "with the same options, choose another --output_dir or pass --overwrite_output_dir"
        )


def run_outputs(root: Path) -> list[Path]:
    """What a run leaves in its directory (never the tokenizer, which the next save replaces, nor other files)."""
    folders = [path for _, path in checkpoint_folders(root)] + [root / "adapter"]
    files = [root / name for name in (*WEIGHT_FILES, *RUN_OUTPUTS, RUN_FILE)] + sorted(root.glob("model-*.safetensors"))
    return [path for path in folders + files if path.exists()]


def set_aside_previous_run(output_dir: str | Path) -> None:
    """--overwrite_output_dir, when training starts: move the old run into `previous_run/` (a rename, never a copy
    or a deletion). A `previous_run/` left by an earlier replacement that never finished is kept: it holds the last
    finished model unless the directory itself holds one now."""
    root = Path(output_dir)
    backup = root / PREVIOUS
    outputs = run_outputs(root)
    if backup.exists() and not has_weights(root):
        remove(outputs)  # checkpoints of an unfinished replacement; the finished run stays in previous_run/
        return
    if not outputs:
        return
    shutil.rmtree(backup, ignore_errors=True)
    backup.mkdir()
    for path in outputs:
        path.rename(backup / path.name)
    logger.warning("the run in %s is moved to %s until this run has saved its model", root, backup)


def remove(paths) -> None:
    for path in paths:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def finish_replacement(output_dir: str | Path) -> None:
    """The new run saved its model: the run it replaced goes."""
    shutil.rmtree(Path(output_dir) / PREVIOUS, ignore_errors=True)


def after_failure(output_dir: str | Path) -> str:
    """The new run failed: with no complete checkpoint of its own, nothing of it is worth keeping and the replaced
    run moves back; otherwise both stay (the new run can be resumed). Returns a sentence for the error message."""
    root = Path(output_dir)
    backup = root / PREVIOUS
    if not backup.is_dir():
        return ""
    if last_complete_checkpoint(root) is not None:
        return f"the run it replaces is kept in {backup} until this one finishes"
    remove(run_outputs(root))
    for path in backup.iterdir():
        path.rename(root / path.name)
    backup.rmdir()
    return f"the previous run is restored in {root}"


@contextlib.contextmanager
def protected_run(config, resume: bool | None = None, main_process: bool = True):
    """The rules of this module around a run (`imitlm train` and `ImitationTrainer.train` alike): the directory is
    checked and locked; a run being replaced is deleted only once this one succeeds, and restored if it fails before
    its first checkpoint. Nested (the CLI's `train` calls `ImitationTrainer.train`), only the outermost block acts."""
    with run_lock(config.output_dir, f"--output_dir {config.output_dir}", enabled=main_process) as outermost:
        if not outermost and main_process:
            yield
            return
        check_output_dir(config, resume)
        try:
            yield
        except BaseException:
            if main_process:
                said = after_failure(config.output_dir)
                if said:
                    logger.warning("the run failed: %s", said)
            raise
        if main_process:
            finish_replacement(config.output_dir)


class RunStarted(TrainerCallback):
    """When training starts (set-up succeeded): set aside a run being overwritten, then record which run this is."""

    def __init__(self, config):
        self.config = config
        self.resuming = False  # `ImitationTrainer.train(resume_from_checkpoint=...)` sets it

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        output = Path(self.config.output_dir)
        resuming = self.resuming or resume_requested(self.config)
        if getattr(self.config, "overwrite_output_dir", False) and not resuming:
            set_aside_previous_run(output)
        output.mkdir(parents=True, exist_ok=True)
        (output / RUN_FILE).write_text(json.dumps(run_signature(self.config), indent=1))


def resolve_checkpoint(config) -> str | None:
    """--resume_from_checkpoint: 'last'/'true' -> the newest complete checkpoint; a path must be complete. Either
    way every file resuming reads must be there (else the optimizer or schedule would silently start afresh)."""
    value = config.resume_from_checkpoint
    if not resume_requested(config):
        return None
    if value in ("true", "True", "last"):
        checkpoint = last_complete_checkpoint(config.output_dir)
        if checkpoint is None:
            raise UserError(
                f"no complete checkpoint to resume in {config.output_dir}; train without --resume_from_checkpoint "
                "(and with --overwrite_output_dir if the directory holds a model)"
            )
    else:
        checkpoint = value
        if not Path(value).is_dir():
            what = "is not a directory" if Path(value).exists() else "not found"
            raise UserError(f"checkpoint {value} {what}; give a checkpoint-N directory or 'last'")
        if not is_complete(value):
            raise UserError(
                f"checkpoint {value} is incomplete (the run stopped while writing it); "
                "resume from an earlier checkpoint or pass 'last'"
            )
    missing = missing_checkpoint_files(Path(checkpoint), config)
    if missing:
        raise UserError(
            f"checkpoint {checkpoint} lacks {', '.join(missing)}, which resuming needs (a fresh optimizer or "
            "schedule would silently change the run); resume from another checkpoint or train again"
        )
    return checkpoint


def missing_checkpoint_files(folder: Path, config) -> list[str]:
    """Files resuming reads: trainer state, weights, optimizer and scheduler, random states, imitlm's state."""
    from imitlm.training.trainer import STATE_FILE

    world, rank = config.world_size, config.process_index
    sharded = bool(config.fsdp) or bool(config.deepspeed)  # their weights and optimizer are saved in shards
    needed = ["trainer_state.json", "scheduler.pt"]
    if not sharded:
        needed += ["optimizer.pt"]
    needed += [STATE_FILE if world == 1 else f"imitlm_state_{rank}.pt"]
    needed += ["rng_state.pth" if world == 1 else f"rng_state_{rank}.pth"]
    missing = [name for name in needed if not (folder / name).is_file()]
    if not sharded and not has_weights(folder):
        missing.append("the model weights (model.safetensors)")
    return missing


def check_resumable(model, checkpoint: str, config) -> None:
    """A checkpoint resumes only the run that wrote it: the same model shapes (else torch's size-mismatch crash), and
    the same settings when the checkpoint's run recorded them (else a run of another objective resumes silently)."""
    differ = shape_mismatches(checkpoint, model)
    if differ:
        more = " and more" if len(differ) > 1 else ""
        raise UserError(
            f"checkpoint {checkpoint} holds a model of other shapes ({differ[0]}{more}); resume a checkpoint of "
            "this model, or start from its weights with --model_name_or_path CHECKPOINT"
        )
    recorded = Path(checkpoint).parent / RUN_FILE
    if not recorded.is_file():
        return
    previous, current = json.loads(recorded.read_text()), run_signature(config)
    changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
    if changed:
        raise UserError(
            f"checkpoint {checkpoint} belongs to a run with other settings (differs in: {', '.join(changed[:5])}); "
            "resume it with that run's options, or start from its weights with --model_name_or_path CHECKPOINT"
        )


def complete_checkpoint(value, output_dir: str) -> str | None:
    """`ImitationTrainer.train(resume_from_checkpoint=...)`: True means the newest complete checkpoint (the Trainer's
    own choice, the newest folder, may be one a killed run was still writing); False/None: no resuming."""
    if value is True:
        checkpoint = last_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise UserError(f"no complete checkpoint to resume in {output_dir}; train without resume_from_checkpoint")
        return checkpoint
    return None if value is False else value
