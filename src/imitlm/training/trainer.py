"""`ImitationTrainer`: one thin `transformers.Trainer` subclass that runs every preset (docs/design.md, "Presets").

What is specific to imitation learning lives in four places, marked below:
  1. `get_batch_samples`: rollouts into the replay buffer, policy rows mixed into each batch;
  2. `_get_num_items_in_batch`: global (data, policy) token and row counts over accumulation window and ranks;
  3. `compute_loss`: the backspace layout, one forward pass, the objective (from full logits, or chunk by chunk
     from the final hidden states with `--chunked_loss`);
  4. checkpoint hooks: the replay buffer and our random generators travel with the checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace

import torch
from accelerate.utils import DistributedType
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from imitlm.backspace.layout import target_counts
from imitlm.data.batches import concat_batches
from imitlm.data.checks import check_backspace_rows
from imitlm.errors import UserError
from imitlm.models import add_backspace, bksp_id_of, save_run_settings
from imitlm.objectives import ObjectiveSpec, default_chunk_size, get_preset, ramped
from imitlm.rollout.buffer import ReplayBuffer, collect_rollouts, rollout_prompts
from imitlm.training.checkpoints import (
    NonFiniteGradientCheck,
    check_finite_weights,
    mark_complete,
    raise_non_finite,
)
from imitlm.training.collator import EpochToCollator, ImitationCollator
from imitlm.training.config import CHUNKED_LOSS_MIN_VOCAB, check_attention, objective_settings
from imitlm.training.consistency import check_run
from imitlm.training.eval_metrics import eval_step, extra_metrics, kept_random_state
from imitlm.training.inputs import resolve_model, token_rows
from imitlm.training.loss_step import imitation_forward
from imitlm.training.other_args import as_imit_config
from imitlm.training.run_dir import RunStarted, check_resumable, complete_checkpoint, protected_run

STATE_FILE = "imitlm_state.pt"
CONSTANT_METRICS = {"objective/mix_beta"}  # settings, not sums over tokens: not accumulated


def loss_chunk_size(args, model) -> int | None:
    """Positions per chunk of the chunked loss (`objectives.chunked`), or None for full logits: `--chunked_loss`,
    by default on from `CHUNKED_LOSS_MIN_VOCAB` output rows. FSDP and DeepSpeed are refused: the head is called
    outside the model's forward, where their sharded parameters are not gathered."""
    head = model.get_output_embeddings()
    vocab = None if head is None else head.weight.shape[0]
    sharded = bool(args.fsdp) or bool(args.deepspeed)
    chunked = args.chunked_loss
    if chunked is None:
        chunked = vocab is not None and vocab >= CHUNKED_LOSS_MIN_VOCAB and not sharded
    elif chunked and sharded:
        raise UserError("--chunked_loss true does not run under --fsdp or --deepspeed; use --chunked_loss false")
    elif chunked and vocab is None:
        raise UserError("--chunked_loss true needs a model with an output embedding; use --chunked_loss false")
    if not chunked:
        return None
    return args.loss_chunk_size or default_chunk_size(vocab)


def epoch_callbacks(collator) -> list:
    """A collator with an ``epoch`` (ours) learns each epoch's number, for fresh noise every epoch."""
    return [EpochToCollator(collator)] if hasattr(collator, "epoch") else []


def check_launch(args) -> None:
    """Before the Trainer is built: the launch matches what the config asks for."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun / accelerate launch / deepspeed set it
    if launched > args.world_size:  # each process would train alone on the full data
        raise UserError(
            f"{launched} processes were launched but training sees {args.world_size}; "
            "on a machine without GPUs add --use_cpu (gloo)"
        )
    if args.fsdp and args.world_size == 1:
        raise UserError("--fsdp shards over several processes: launch with torchrun --nproc_per_node N, or drop --fsdp")


def check_parallelism(trainer: Trainer) -> None:
    """After the Trainer is built: refuse accelerate's silent fallbacks (FSDP is enabled only on accelerators; on CPU
    it would train plain data parallel)."""
    args = trainer.args
    kind = trainer.accelerator.distributed_type
    if args.fsdp and kind != DistributedType.FSDP:
        raise UserError(
            "--fsdp is set but accelerate did not enable FSDP (it shards only on GPUs or other "
            "accelerators); drop --fsdp, or run on GPUs"
        )
    if args.deepspeed and kind != DistributedType.DEEPSPEED:
        raise UserError(
            "--deepspeed is set but accelerate did not enable DeepSpeed; launch with torchrun or the "
            "deepspeed launcher (with --use_cpu on a machine without GPUs)"
        )


def with_lora(model, peft_config, bksp_id: int | None, args):
    """``model`` wrapped in LoRA adapters (peft); with `<bksp>`, its new embedding rows train too."""
    from peft import get_peft_model

    if bksp_id is not None and args.fsdp:
        raise UserError(
            "LoRA with <bksp> does not run under FSDP (fully_shard fails on peft's trainable-token "
            "wrapper that trains the <bksp> row); use DDP (torchrun without --fsdp) or train all "
            "weights under FSDP"
        )

    if bksp_id is not None:
        from imitlm.backspace.vocab import lora_config_with_bksp

        peft_config = lora_config_with_bksp(peft_config, bksp_id, model)
    try:
        model = get_peft_model(model, peft_config)
    except ValueError as error:  # e.g. target modules the model does not have
        reason = " ".join(str(error).split())[:200]
        raise UserError(f"LoRA could not wrap the model ({reason}); check --lora_target_modules") from None
    return model


# The LoRA <bksp> row's learning rate: at the adapters' rate the row cannot rise the ~18 nats it must in a few hundred
# steps, the adapters carry the gradient instead and flatten the ordinary tokens' distribution on a pretrained model
# (docs/bksp_pretrained.md, round 1).
BKSP_ROW_LEARNING_RATE = 1e-2


def lora_bksp_row(model) -> list:
    """The trainable `<bksp>` row of a LoRA model (peft's trainable-token delta), or []."""
    return [p for name, p in model.named_parameters() if "trainable_tokens_delta" in name and p.requires_grad]


def give_bksp_row_its_rate(optimizer, model, rate: float) -> None:
    """Move the trainable `<bksp>` row (peft's trainable-token delta, LoRA only) into its own param group at ``rate``;
    the scheduler scales every group alike."""
    row = lora_bksp_row(model)
    if not row:
        raise UserError(
            "--bksp_learning_rate sets the rate of the LoRA <bksp> row (peft's trainable tokens), and this run has "
            "none; use it with --use_peft true and a <bksp> preset, or drop it"
        )
    moved = {id(p) for p in row}
    for group in optimizer.param_groups:
        group["params"] = [p for p in group["params"] if id(p) not in moved]
    optimizer.add_param_group({"params": row, "lr": rate, "weight_decay": 0.0})


class ImitationTrainer(Trainer):
    """`Trainer(model, args, train_dataset, eval_dataset, processing_class, peft_config, callbacks)`, TRL-style.

    `model` is a model object or a name/path (loaded with `from_pretrained`, tokenizer too); `args` is an
    `ImitConfig` (no model settings needed); datasets hold raw `prompt`/`completion` strings or chat messages, `text`,
    `messages`, or rows tokenised to `prompt_ids`/`completion_ids` (see `training.inputs`).
    """

    def __init__(
        self,
        model,
        args,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        peft_config=None,
        callbacks=None,
        data_collator=None,
        noise_sampler=None,
    ):
        args = as_imit_config(args)  # a plain TrainingArguments or TRL's SFTConfig: imitation defaults, said
        check_run(args)  # settings that would silently do something else than asked: warned or refused
        self.preset = get_preset(args.objective)
        model, processing_class = resolve_model(model, processing_class, args.attn_implementation)
        tokenizer = processing_class
        # the one place <bksp> joins the vocabulary, before any text is tokenised (rows may hold <bksp> traces)
        self.bksp_id = add_backspace(tokenizer, model) if self.preset.backspace else bksp_id_of(model)
        train_dataset = token_rows(train_dataset, tokenizer, args.max_length, "training data")
        eval_dataset = token_rows(eval_dataset, tokenizer, args.max_length, "evaluation data")
        if self.bksp_id is not None and train_dataset is not None:
            check_backspace_rows(train_dataset, self.bksp_id)
        if self.bksp_id is not None:  # the <bksp> layout needs a kernel that applies its 4D mask
            check_attention(getattr(model.config, "_attn_implementation", None) or args.attn_implementation, True)
        self.chunk_size = loss_chunk_size(args, model)  # None: full logits
        if peft_config is not None:
            model = with_lora(model, peft_config, self.bksp_id, args)
        args.remove_unused_columns = False  # our collator needs prompt_ids / completion_ids / example_index
        self.objective_settings = objective_settings(args)
        self.spec, self.noise_prob = self.objective_settings.spec, self.objective_settings.noise_prob
        if data_collator is None:
            special = set(tokenizer.all_special_ids) | {self.bksp_id}
            data_collator = ImitationCollator(
                pad_id=tokenizer.pad_token_id,
                bksp_id=self.bksp_id,
                noise_prob=self.noise_prob,
                noise_token_ids=[i for i in range(len(tokenizer)) if i not in special],
                noise_sampler=noise_sampler,
                seed=args.seed,
                eos_id=tokenizer.eos_token_id,
            )
        check_launch(args)
        self.run_started = RunStarted(args)  # records the run (imitlm_run.json), sets aside one it replaces
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=[NonFiniteGradientCheck(), self.run_started, *epoch_callbacks(data_collator), *(callbacks or [])],
        )
        check_parallelism(self)
        self.loss_is_scaled_for_ga = True  # compute_loss divides by the global token counts itself
        # the MLE warm-up is plain MLE: per-token mean, no gamma^t weights (docs/objectives.md, "Schedule")
        self.warmup_spec = dataclasses.replace(self.spec, use_il=False, gamma=1.0)
        self.replay = ReplayBuffer(args.rollout_buffer_size) if self.preset.online else None
        # Separate seeded generators: rollouts and policy draws never disturb the data order.
        rank = args.process_index
        self.rollout_generator = torch.Generator().manual_seed(args.seed * 7919 + 17 + rank)
        self.policy_generator = torch.Generator().manual_seed(args.seed * 7919 + 29 + rank)
        self._metric_sums: dict[str, torch.Tensor] = {}
        self._metric_steps_seen: set[int] = set()
        self._last_rollout_stats: dict[str, float] = {}
        self.rollout_seconds_total = 0.0

    # ---- 1. rollouts and the mixture batch ---------------------------------------------------
    def create_optimizer(self, model=None):
        """The Trainer's optimizer; under LoRA the `<bksp>` row learns at its own rate (`BKSP_ROW_LEARNING_RATE`
        unless --bksp_learning_rate says otherwise)."""
        optimizer = super().create_optimizer(model)
        rate = getattr(self.args, "bksp_learning_rate", None)
        if self.bksp_id is not None and (rate is not None or lora_bksp_row(self.model)):
            give_bksp_row_its_rate(optimizer, self.model, BKSP_ROW_LEARNING_RATE if rate is None else rate)
        return optimizer

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        if self.replay is not None and batch_samples and self.state.global_step >= self.args.mle_warmup_count:
            step = self.state.global_step
            if len(self.replay) == 0 or (step > 0 and step % self.args.rollout_every == 0):
                self.run_rollouts()
            pad_id = self.processing_class.pad_token_id
            batch_samples = [
                concat_batches(
                    batch, self.replay.sample_batch(self.policy_rows(batch), self.policy_generator, pad_id), pad_id
                )
                for batch in batch_samples
            ]
        return batch_samples, self._get_num_items_in_batch(batch_samples, device)

    def policy_rows(self, batch) -> int:
        return self.args.policy_rows_per_batch or max(1, len(batch["lengths"]) // 2)

    def run_rollouts(self) -> None:
        """Generate `rollout_batch_size` sequences from training prompts (or data prefixes for plain text) with
        the current (unwrapped) model, into the replay buffer."""
        prompts = rollout_prompts(self.train_dataset, self.args.rollout_batch_size, self.rollout_generator)
        tokenizer = self.processing_class
        model = self.accelerator.unwrap_model(self.model)
        items, stats = collect_rollouts(
            model,
            prompts,
            bksp_id=self.bksp_id,
            eos_id=tokenizer.eos_token_id,
            pad_id=tokenizer.pad_token_id,
            max_new_tokens=self.args.max_new_tokens,
            temperature=self.args.rollout_temperature,
            tau=self.spec.tau,  # the trained policy softmax(Q / tau), times the rollout temperature
            generator=self.rollout_generator,
            max_state_length=self.args.max_length - max(len(p) for p in prompts),  # completion tokens
            synced_ranks=self.is_fsdp_enabled or self.is_deepspeed_enabled,  # sharded weights: same calls per rank
        )
        self.replay.add(items)
        self.rollout_seconds_total += stats["rollout/seconds"]
        self._last_rollout_stats = stats

    # ---- 2. global token counts ----------------------------------------------------------------
    def _get_num_items_in_batch(self, batch_samples, device):
        """(data tokens, policy tokens, data rows, policy rows) summed over the accumulation window and, with several
        ranks, over ranks."""
        if not batch_samples:
            return None
        counts = sum(target_counts(batch) for batch in batch_samples).to(device)  # (4,)
        if self.args.world_size > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return counts

    # ---- 3. the loss ----------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counts = (
            num_items_in_batch
            if num_items_in_batch is not None
            else target_counts(inputs).to(inputs["input_ids"].device)
        )
        spec = self.spec_at(self.state.global_step)
        tokenizer = self.processing_class
        loss, metrics, outputs = imitation_forward(
            model,
            inputs,
            spec,
            counts,
            bksp_id=self.bksp_id,
            eos_id=tokenizer.eos_token_id,
            pad_id=tokenizer.pad_token_id,
            chunk_size=self.chunk_size,
            bksp_head_only=getattr(self.args, "bksp_head_only", False),
        )
        if not bool(torch.isfinite(loss)):
            raise_non_finite(self.state.global_step, metrics, self.args.output_dir)
        if self.args.world_size > 1:
            loss = loss * self.args.world_size  # DDP averages gradients over ranks; the counts are already global
        if model.training:
            self._metric_steps_seen.add(self.state.global_step)
            for name, value in metrics.items():
                if name in CONSTANT_METRICS:
                    continue
                # stays on the device: one transfer per log, not one sync per metric per step
                self._metric_sums[name] = self._metric_sums.get(name, 0.0) + value.detach().float()
        return (loss, outputs) if return_outputs else loss

    def spec_at(self, step: int) -> ObjectiveSpec:
        """The objective of optimiser step ``step``: plain MLE during --mle_warmup_steps, then eta and c ramped
        over --il_ramp_steps (the first imitation step has fraction 1 / il_ramp_steps), then the full objective."""
        into_il = step - self.args.mle_warmup_count
        if into_il < 0:
            return self.warmup_spec
        if into_il < self.args.il_ramp_steps:
            return ramped(self.spec, (into_il + 1) / self.args.il_ramp_steps)
        return self.spec

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._metric_sums:
            steps = max(len(self._metric_steps_seen), 1)
            names = sorted(self._metric_sums)
            values = torch.stack([self._metric_sums[n].to(self.args.device) for n in names])
            if self.args.world_size > 1:
                values = self.accelerator.reduce(values, reduction="sum")
            for name, value in zip(names, values.tolist()):
                logs[name] = round(value / steps, 6)
            logs.update({k: round(v, 4) for k, v in self._last_rollout_stats.items()})
            if self.replay is not None:
                logs["rollout/seconds_total"] = round(self.rollout_seconds_total, 3)
            self._metric_sums.clear()
            self._metric_steps_seen.clear()
        super().log(logs, start_time)

    # ---- evaluation during training: eval_loss and cheap task metrics (`training.eval_metrics`) ---
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return eval_step(self, model, inputs), None, None

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None, **kwargs):
        self._eval_sums = None
        with kept_random_state():  # the dataloader draws its seed from torch's generator: training must not see it
            output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, **kwargs)
            prefix = kwargs.get("metric_key_prefix", "eval")
            output.metrics.update(extra_metrics(self, prefix, dataloader.dataset))
        return output

    # ---- 4. checkpoints: complete-or-ignored, carrying the replay buffer and our generators ---
    def _issue_warnings_after_load(self, load_result) -> None:
        """Trainer warns that tied weights (e.g. GPT-2's ``lm_head.weight``, the input embeddings) are missing from
        a checkpoint, which never saves them twice; drop those keys so a resume warns only about real gaps."""
        params = dict(self.model.named_parameters(remove_duplicate=False))
        missing = set(load_result.missing_keys)
        loaded_storage = {p.data_ptr() for name, p in params.items() if name not in missing}
        real = [k for k in load_result.missing_keys if k not in params or params[k].data_ptr() not in loaded_storage]
        super()._issue_warnings_after_load(
            SimpleNamespace(missing_keys=real, unexpected_keys=load_result.unexpected_keys)
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The Trainer's for checkpoints. Called by the user (or `imitlm train` at the end) it saves what every
        command loads: the model, its tokenizer and the run's settings (config.json, `imitlm`); with LoRA the adapter
        goes to OUTPUT/adapter and the model merged with it to OUTPUT. The merge happens in place (no second copy of
        the weights): the adapter is folded in, so train no further after saving a LoRA model."""
        if _internal_call:
            return super().save_model(output_dir, _internal_call)
        from imitlm.training.run import merged_lora_model, resolved_settings  # run.py imports this module

        output_dir = output_dir or self.args.output_dir
        if getattr(self.model, "peft_config", None) is None:
            super().save_model(output_dir)  # model + config (+ bksp_token_id) + tokenizer
        else:
            adapter = os.path.join(output_dir, "adapter")
            super().save_model(adapter)
            if self.is_world_process_zero():
                merged_lora_model(self, self.args, Path(adapter)).save_pretrained(output_dir)
                self.processing_class.save_pretrained(output_dir)
        if self.is_world_process_zero():
            save_run_settings(output_dir, resolved_settings(self.args, self))

    def _save_checkpoint(self, model, trial) -> None:
        check_finite_weights(model, self.state.global_step, self.args.output_dir)
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # rotate old checkpoints only once the new one is complete
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.args.should_save:
            run_dir = self._get_output_dir(trial=trial)
            mark_complete(os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"))
            rotate_checkpoints(
                output_dir=run_dir, save_total_limit=limit, best_model_checkpoint=self.state.best_model_checkpoint
            )

    def _save_rng_state(self, output_dir: str) -> None:
        super()._save_rng_state(output_dir)
        state = {
            "rollout_generator": self.rollout_generator.get_state(),
            "policy_generator": self.policy_generator.get_state(),
            "replay": self.replay.state_dict() if self.replay is not None else None,
            "rollout_seconds_total": self.rollout_seconds_total,
        }
        torch.save(state, self._state_file(output_dir))

    def train(self, resume_from_checkpoint=None, **kwargs):
        resume_from_checkpoint = complete_checkpoint(resume_from_checkpoint, self.args.output_dir)  # True: the last
        resuming = resume_from_checkpoint is not None
        self.run_started.resuming = resuming
        # the same run-directory rules as `imitlm train`: checked, locked, a replaced run kept until this one ends
        with protected_run(self.args, resuming, main_process=self.is_world_process_zero()):
            # Our state must be back before the first resumed batch is assembled (the Trainer restores its own
            # random states only after fetching that batch).
            if isinstance(resume_from_checkpoint, str):
                check_resumable(self.model, resume_from_checkpoint, self.args)
                self.load_imitlm_state(resume_from_checkpoint)
            return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _state_file(self, checkpoint: str) -> str:
        name = STATE_FILE if self.args.world_size == 1 else f"imitlm_state_{self.args.process_index}.pt"
        return os.path.join(checkpoint, name)

    def load_imitlm_state(self, checkpoint: str) -> None:
        path = self._state_file(checkpoint)
        if not os.path.isfile(path):
            return
        state = torch.load(path, weights_only=False)
        self.rollout_generator.set_state(state["rollout_generator"])
        self.policy_generator.set_state(state["policy_generator"])
        if self.replay is not None and state["replay"] is not None:
            self.replay.load_state_dict(state["replay"])
        self.rollout_seconds_total = state["rollout_seconds_total"]
