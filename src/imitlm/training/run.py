"""`imitlm train`: config -> data, tokenizer, model -> `ImitationTrainer` -> a saved model directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import set_seed

from imitlm.data.checks import check_max_length, check_text
from imitlm.errors import UserError
from imitlm.models import (
    add_backspace,
    load_model,
    load_tokenizer,
    model_max_length,
)
from imitlm.models.files import check_tokenizer_files, note_resized_vocabulary, tokenizer_source
from imitlm.objectives import get_preset
from imitlm.tasks import arithmetic, load_task_rows
from imitlm.training.checkpoints import last_complete_checkpoint
from imitlm.training.config import ImitConfig
from imitlm.training.log_display import show_short_logs
from imitlm.training.run_dir import check_output_dir, protected_run, resolve_checkpoint
from imitlm.training.trainer import ImitationTrainer, check_launch

logger = logging.getLogger(__name__)


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
    return {
        **trainer.objective_settings.as_dict(),
        "noise_type": config.noise_type,
        "task": config.task,
        "difficulty": config.difficulty,
        "task_seed": config.task_seed,
        "dataset_name": config.dataset_name,
        "max_length": config.max_length,
        "max_new_tokens": config.max_new_tokens,
    }


def run_summary(config: ImitConfig, trainer: ImitationTrainer) -> str:
    """The block `imitlm train` prints before training: preset and objective settings, data, model, outputs."""
    settings = resolved_settings(config, trainer)
    preset = get_preset(config.objective)
    objective = f"gamma {settings['gamma']}, tau {settings['q_temperature']}"
    if preset.use_il:
        objective = (
            f"divergence {settings['divergence']}, td_weight {settings['td_weight']}, il_weight "
            f"{settings['il_weight']}, mix_beta {settings['mix_beta']}, " + objective
        )
    if trainer.noise_prob:
        objective += f", <bksp> noise {trainer.noise_prob} ({config.noise_type})"
    source = config.dataset_name or f"task {config.task}, difficulty {config.difficulty}"
    evaluation = f", {len(trainer.eval_dataset)} evaluation rows" if trainer.eval_dataset is not None else ""
    model = trainer.model
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    origin = f"from {config.model_name_or_path}" if config.model_name_or_path else "from scratch"
    checkpoints = (
        f"checkpoints every {config.save_steps:g} steps in {config.output_dir}/checkpoint-N"
        if config.save_strategy == "steps"
        else f"checkpoints: {config.save_strategy}"
    )
    return "\n".join(
        [
            f"imitlm train: preset {config.objective} ({objective})",
            f"  data:   {len(trainer.train_dataset)} training rows ({source}){evaluation}",
            f"  model:  {model.config.model_type}, {parameters:.2f} M parameters, {origin}",
            f"  output: {checkpoints}; final model in {config.output_dir}",
        ]
    )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the step reached and the last complete checkpoint (None: none yet)."""

    def __init__(self, step: int, checkpoint: str | None):
        self.step, self.checkpoint = step, checkpoint
        kept = f"the last complete checkpoint is {checkpoint}" if checkpoint else "no complete checkpoint yet"
        super().__init__(f"training stopped at step {step}; {kept}")


def train(config: ImitConfig, callbacks=None, peft_config=None, announce: bool = False) -> ImitationTrainer:
    """Train ``config`` end to end; ``announce`` prints :func:`run_summary` before training (the CLI does). The output
    directory is locked from set-up to the final save (`run_dir.protected_run`)."""
    check_output_dir(config)
    check_final_save(config)
    checkpoint = resolve_checkpoint(config)
    check_launch(config)  # before the lock: processes that each train alone would otherwise meet at the lock
    with protected_run(config, main_process=config.process_index == 0):
        trainer = build_trainer(config, callbacks, peft_config)
        if announce and trainer.is_world_process_zero():
            print(run_summary(config, trainer), flush=True)
        try:
            trainer.train(resume_from_checkpoint=checkpoint)
        except KeyboardInterrupt:
            step = trainer.state.global_step
            raise TrainingInterrupted(step, last_complete_checkpoint(config.output_dir)) from None
        save_final(config, trainer)
    return trainer


def tokenizer_and_rows(config: ImitConfig):
    """(tokenizer, train rows, evaluation rows): a named tokenizer is loaded first, so chat `messages` rows are
    rendered with its chat template; a tokenizer built from the data (bpe, characters) comes after the rows."""
    name, option = tokenizer_source(config)
    if name is None or (name == "bpe" or name.startswith("bpe:")) and not Path(name).exists():
        train_rows, eval_rows = load_task_rows(config)
        return load_tokenizer(config, train_rows), train_rows, eval_rows
    check_tokenizer_files(name, option)
    tokenizer = load_tokenizer(config)
    return tokenizer, *load_task_rows(config, tokenizer)


def build_trainer(config: ImitConfig, callbacks=None, peft_config=None) -> ImitationTrainer:
    """Data, tokenizer and model of ``config``, checked, in an `ImitationTrainer`."""
    set_seed(config.seed)
    tokenizer, train_rows, eval_rows = tokenizer_and_rows(config)
    note_resized_vocabulary(config, tokenizer)
    for rows, source in ((train_rows, "the training data"), (eval_rows, "the evaluation data")):
        if rows is not None:
            texts = [*rows["prompt"], *rows["completion"]]
            check_text(texts, tokenizer, source, allow_unknown=config.allow_unknown_chars)
    model = load_model(config, tokenizer)
    check_max_length(config.max_length, model_max_length(model))
    if peft_config is None and config.use_peft:
        peft_config = lora_config(config)
    trainer = ImitationTrainer(
        model=model,
        args=config,
        train_dataset=train_rows,  # the trainer adds <bksp> to the vocabulary, then tokenises and checks the rows
        eval_dataset=eval_rows if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
        noise_sampler=task_noise_sampler(config, tokenizer),
    )
    show_short_logs(trainer)
    return trainer


def save_final(config: ImitConfig, trainer: ImitationTrainer) -> None:
    """The final model (merged, with the adapter beside it, for LoRA), its settings, state and log history."""
    output = Path(config.output_dir)
    trainer.save_model(config.output_dir)  # with LoRA: the adapter in adapter/, the merged model beside it
    if trainer.is_world_process_zero():
        trainer.save_state()
        (output / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
