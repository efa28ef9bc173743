"""`imitlm train`: config -> data, tokenizer, model -> `ImitationTrainer` -> a saved model directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import set_seed

from imitlm.data.checks import check_backspace_rows, check_max_length
from imitlm.data.encode import tokenize_rows
from imitlm.errors import UserError
from imitlm.models import (
    add_backspace,
    bksp_id_of,
    load_model,
    load_tokenizer,
    model_max_length,
    save_run_settings,
)
from imitlm.objectives import get_preset
from imitlm.tasks import arithmetic, load_task_rows
from imitlm.training.checkpoints import is_complete, last_complete_checkpoint
from imitlm.training.config import ImitConfig
from imitlm.training.trainer import ImitationTrainer

logger = logging.getLogger(__name__)
RUN_FILE = "imitlm_run.json"


def run_signature(config: ImitConfig) -> dict:
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
    ):
        data.pop(key, None)
    return json.loads(json.dumps(data, default=str))


def check_output_dir(config: ImitConfig) -> None:
    """Refuse to mix two different runs in one output directory unless --overwrite_output_dir."""
    path = Path(config.output_dir) / RUN_FILE
    if not path.is_file() or config.overwrite_output_dir:
        return
    previous = json.loads(path.read_text())
    if previous != run_signature(config):
        changed = sorted(
            k for k in set(previous) | set(run_signature(config)) if previous.get(k) != run_signature(config).get(k)
        )
        raise UserError(
            f"{config.output_dir} already holds a different run (differs in: {', '.join(changed[:5])}); "
            "choose another --output_dir or pass --overwrite_output_dir"
        )


def resolve_checkpoint(config: ImitConfig) -> str | None:
    """--resume_from_checkpoint: 'last'/'true' -> the newest complete checkpoint; a path must be complete."""
    value = config.resume_from_checkpoint
    if value in (None, "", "false", "False"):
        return None
    if value in ("true", "True", "last"):
        last = last_complete_checkpoint(config.output_dir)
        if last is None:
            raise UserError(
                f"no complete checkpoint to resume in {config.output_dir}; train without --resume_from_checkpoint"
            )
        return last
    if not Path(value).is_dir():
        raise UserError(f"checkpoint {value} not found; give a checkpoint-N directory or 'last'")
    if not is_complete(value):
        raise UserError(
            f"checkpoint {value} is incomplete (the run stopped while writing it); "
            "resume from an earlier checkpoint or pass 'last'"
        )
    return value


def lora_config(config: ImitConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def sharded(config: ImitConfig) -> bool:
    return bool(config.fsdp) or bool(config.deepspeed)


def check_final_save(config: ImitConfig) -> None:
    """Refuse, before training, runs that could not save a loadable model at the end."""
    if sharded(config) and config.use_peft and config.model_name_or_path is None:
        raise UserError(
            "LoRA under FSDP/DeepSpeed merges the saved adapter into the pretrained base model: "
            "set --model_name_or_path, or train all weights"
        )
    # ZeRO-3 leaves the weights partitioned: without gathering them at save time the run ends with no model.
    ds = config.hf_deepspeed_config if config.deepspeed else None
    if (
        ds is not None
        and ds.is_zero3()
        and not ds.get_value("zero_optimization.stage3_gather_16bit_weights_on_model_save")
    ):
        raise UserError(
            "a DeepSpeed ZeRO-3 run must gather its weights to save a loadable model: set "
            "zero_optimization.stage3_gather_16bit_weights_on_model_save to true in the DeepSpeed config"
        )


def merged_lora_model(trainer: ImitationTrainer, config: ImitConfig, adapter_dir: Path):
    """The trained adapter merged into its base model. Under FSDP/DeepSpeed the weights in memory are shards, so
    the base model is loaded again, whole, on this process (ZeRO-3's partitioned loading switched off) and the
    saved adapter merged into it."""
    if not sharded(config):
        return trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    from peft import PeftModel
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    try:
        base = load_model(config, trainer.processing_class)  # the tokenizer already holds <bksp> if the preset has it
        if trainer.bksp_id is not None:
            add_backspace(trainer.processing_class, base)
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    finally:
        if config.deepspeed:
            set_hf_deepspeed_config(config.hf_deepspeed_config)
    return merged


def task_noise_sampler(config: ImitConfig, tokenizer):
    """--noise_type task: the task's ground-truth noise sampler, if it has one; None: uniform over ordinary tokens."""
    if config.noise_type == "task" and config.task == "arithmetic":
        return arithmetic.wrong_digit_sampler(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
    return None


def resolved_settings(config: ImitConfig, trainer: ImitationTrainer) -> dict:
    """What later commands need to know of this training run (saved in config.json under `imitlm`)."""
    spec = trainer.spec
    return {
        "preset": config.objective,
        "divergence": spec.phi.name,
        "gamma": spec.gamma,
        "td_weight": spec.td_weight,
        "mix_beta": spec.mix_beta,
        "il_weight": spec.il_weight,
        "q_temperature": spec.tau,
        "noise_prob": trainer.noise_prob,
        "noise_type": config.noise_type,
        "task": config.task,
        "difficulty": config.difficulty,
        "task_seed": config.task_seed,
        "dataset_name": config.dataset_name,
        "max_length": config.max_length,
        "max_new_tokens": config.max_new_tokens,
    }


def train(config: ImitConfig, callbacks=None, peft_config=None) -> ImitationTrainer:
    check_output_dir(config)
    check_final_save(config)
    checkpoint = resolve_checkpoint(config)
    set_seed(config.seed)
    train_rows, eval_rows = load_task_rows(config)
    tokenizer = load_tokenizer(config, train_rows)
    model = load_model(config, tokenizer)
    check_max_length(config.max_length, model_max_length(model))
    bksp_id = bksp_id_of(model)
    if get_preset(config.objective).backspace:
        bksp_id = add_backspace(tokenizer, model)  # before tokenising: data may hold <bksp> traces
    train_data = tokenize_rows(train_rows, tokenizer, config.max_length, source="training data")
    if bksp_id is not None:
        check_backspace_rows(train_data, bksp_id)
    eval_data = tokenize_rows(eval_rows, tokenizer, config.max_length, source="evaluation data") if eval_rows else None
    noise_sampler = task_noise_sampler(config, tokenizer)
    if peft_config is None and config.use_peft:
        peft_config = lora_config(config)
    trainer = ImitationTrainer(
        model=model,
        args=config,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
        noise_sampler=noise_sampler,
    )
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if trainer.is_world_process_zero():
        (output / RUN_FILE).write_text(json.dumps(run_signature(config), indent=1))
    trainer.train(resume_from_checkpoint=checkpoint)
    if config.use_peft or peft_config is not None:
        trainer.save_model(str(output / "adapter"))  # the adapter alone
        if trainer.is_world_process_zero():  # and a merged model that `imitlm evaluate` loads like any other
            merged_lora_model(trainer, config, output / "adapter").save_pretrained(config.output_dir)
            trainer.processing_class.save_pretrained(config.output_dir)
    else:
        trainer.save_model(config.output_dir)  # model + config (+ bksp_token_id) + tokenizer
    if trainer.is_world_process_zero():
        save_run_settings(config.output_dir, resolved_settings(config, trainer))
        trainer.save_state()
        (output / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return trainer
