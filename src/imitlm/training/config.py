"""The one typed config: Python, YAML recipes and command-line flags all map to `ImitConfig`.

It subclasses `transformers.TrainingArguments` (as TRL's configs do), so every Trainer option
(batch size, accumulation, FSDP, `report_to`, checkpointing, ...) is available unchanged; the
fields below add the model, the task and the imitation objective.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from imitlm.errors import UserError
from imitlm.objectives import BASELINE, DIVERGENCES, PRESETS, ObjectiveSpec, get_preset, preset_names
from imitlm.validation import check_options

OBJECTIVES = tuple(PRESETS)
DIVERGENCE_NAMES = tuple(DIVERGENCES)
TASKS = ("arithmetic", "text")
NOISE_TYPES = ("random", "task")
CHUNKED_LOSS_MIN_VOCAB = 16384  # --chunked_loss defaults to on from this vocabulary size
CHUNK_HELP = "a chunk of positions at a time (logits recomputed per chunk in the backward pass)"
MASK_ATTENTION = ("sdpa", "eager", "flex_attention")  # kernels that take an arbitrary 4D mask (docs/design.md)


def check_attention(attn_implementation: str, backspace: bool) -> None:
    """Refuse an attention kernel that would train the `<bksp>` layout silently wrong: flash-attention kernels
    ignore the 4D mask (a copy would attend to deleted tokens). Unknown names are refused too."""
    name = str(attn_implementation)
    if name in MASK_ATTENTION or ("flash" in name and not backspace):
        return
    if "flash" in name:
        raise UserError(
            f"attn_implementation {name!r} ignores the 4D attention mask that <bksp> training needs; "
            f"use one of: {', '.join(MASK_ATTENTION)}"
        )
    raise UserError(
        f"unknown attn_implementation {name!r}; use one of: {', '.join(MASK_ATTENTION)}"
        + ("" if backspace else " (or a flash_attention kernel without <bksp>)")
    )


@dataclass
class ImitConfig(TrainingArguments):
    """Training configuration for `imitlm train` (all of `transformers.TrainingArguments`, plus these).

    Each field's metadata says, beside its definition, what the help and the checks derive from it: ``help``;
    ``group``, its section of `imitlm train --help` (`HELP_TITLES`); ``preset: True``, a value that replaces the
    preset's (None: the preset's; `PRESET_FIELDS`); ``read_when``, the condition under which a run reads it
    (`READ_WHEN`: set but unread, it is named in a warning). Number ranges live in `validation.RANGES`, by name, as
    every command shares them.
    """

    # --- model -------------------------------------------------------------------------------
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "group": "model",
            "help": "Pretrained model: a Hugging Face hub name, a local directory (loaded with from_pretrained), a "
            "GGUF file (x.gguf), or a built-in offline name (smollm2-135m). Leave empty to train from scratch with "
            "`model_config`.",
        },
    )
    gguf_file: str | None = field(
        default=None,
        metadata={
            "group": "model",
            "help": "A GGUF file inside the --model_name_or_path directory (converted once and cached).",
        },
    )
    model_config: dict[str, Any] | None = field(
        default=None,
        metadata={
            "group": "model",
            "help": "Model architecture for training from scratch, e.g. {model_type: gpt2, n_layer: 2, n_embd: 64} "
            "(any transformers causal-LM family: gpt2, llama, qwen2, ...). Set in YAML.",
        },
    )
    tokenizer_name_or_path: str | None = field(
        default=None,
        metadata={
            "group": "model",
            "help": "Tokenizer (hub name or directory, or `bpe` / `bpe:VOCAB_SIZE`: a byte-level BPE trained on the "
            "training data). Default: the model's own, or the task's character-level tokenizer when training from "
            "scratch.",
        },
    )
    attn_implementation: str = field(
        default="sdpa",
        metadata={
            "group": "model",
            "help": "Attention kernel: sdpa, eager or flex_attention. With <bksp> (mle_bksp, sequencematch, or a "
            "model that has the token) flash-attention kernels are refused: they ignore the layout's 4D mask.",
        },
    )
    use_peft: bool = field(
        default=False, metadata={"group": "model", "help": "Train LoRA adapters (peft) instead of all weights."}
    )
    lora_r: int = field(default=16, metadata={"group": "model", "read_when": "peft", "help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"group": "model", "read_when": "peft", "help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"group": "model", "read_when": "peft", "help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "group": "model",
            "read_when": "peft",
            "help": "Modules to adapt (default: peft's choice for the architecture).",
        },
    )
    # --- data --------------------------------------------------------------------------------
    task: str = field(default="arithmetic", metadata={"group": "data", "help": f"Task: one of {', '.join(TASKS)}."})
    dataset_name: str | None = field(
        default=None,
        metadata={
            "group": "data",
            "help": "For --task text: a Hugging Face dataset name or a local jsonl/csv/parquet file or folder with "
            "`text`, `prompt`/`completion` or chat `messages` columns.",
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"group": "data", "help": "Dataset configuration name (hub datasets)."}
    )
    dataset_train_split: str = field(default="train", metadata={"group": "data", "help": "Split used for training."})
    dataset_test_split: str | None = field(
        default=None, metadata={"group": "data", "help": "Split used for evaluation, if any."}
    )
    num_train_examples: int = field(
        default=20000,
        metadata={"group": "data", "read_when": "arithmetic", "help": "Arithmetic: number of training questions."},
    )
    num_eval_examples: int = field(
        default=200,
        metadata={"group": "data", "read_when": "arithmetic", "help": "Arithmetic: number of validation questions."},
    )
    difficulty: int = field(
        default=1,
        metadata={
            "group": "data",
            "read_when": "arithmetic",
            "help": "Arithmetic difficulty 0 (short numbers) .. 3 (mathematics_dataset training range).",
        },
    )
    task_seed: int = field(
        default=0,
        metadata={"group": "data", "read_when": "arithmetic", "help": "Seed of the task's question generator."},
    )
    max_length: int = field(
        default=128,
        metadata={"group": "data", "help": "Maximum tokens of prompt + completion; longer rows are dropped."},
    )
    # --- objective (docs/design.md, "The one objective") ----------------------------------------
    objective: str = field(
        default=BASELINE, metadata={"group": "objective", "help": f"Preset: one of {', '.join(OBJECTIVES)}."}
    )
    divergence: str | None = field(
        default=None,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "help": f"Override the preset's divergence: one of {', '.join(DIVERGENCE_NAMES)}. Without --td_weight "
            "the c*E[r^2] term is off for all but chi2. tv trains to the same optimum as MLE (its gradient-form "
            "continuation has slope 1 wherever r < 1/2). forward_kl, js and hellinger clamp phi' at --max_slope, "
            "which moves their optimum (pi/p_D capped near max_slope); kl is not clamped.",
        },
    )
    max_slope: float = field(
        default=10.0,
        metadata={
            "group": "objective",
            "preset": True,
            "help": "Clamp M of phi' for forward_kl, js and hellinger (IQ-Learn's gradient form below the point "
            "where phi' = M); caps the model/data occupancy ratio the objective can express at about M.",
        },
    )
    gamma: float | None = field(
        default=None,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "preset": True,
            "help": "Discount factor gamma. Default: preset's.",
        },
    )
    td_weight: float | None = field(
        default=None,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "preset": True,
            "help": "Weight c of the chi^2 term c*E[r^2] (Wulfmeier's lambda, = 1/(4 alpha)). Default: the "
            "preset's with chi2, 0 with any other --divergence.",
        },
    )
    mix_beta: float | None = field(
        default=None,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "preset": True,
            "help": "Share beta of policy samples in the value/regulariser mixture. Default: preset's.",
        },
    )
    il_weight: float | None = field(
        default=None,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "preset": True,
            "help": "eta in L = (1-eta) L_MLE + eta L_IL. Default: preset's.",
        },
    )
    q_temperature: float = field(
        default=1.0,
        metadata={"group": "objective", "help": "Temperature tau of the soft value V = tau*logsumexp(Q/tau)."},
    )
    noise_prob: float | None = field(
        default=None,
        metadata={
            "group": "backspace",
            "help": "Probability of a noise token + <bksp> per completion position. Default: preset's.",
        },
    )
    noise_type: str = field(
        default="task",
        metadata={
            "group": "backspace",
            "read_when": "backspace",
            "help": "Noise tokens of <bksp> augmentation: task (the task's ground-truth sampler where it has one, "
            "arithmetic: a wrong digit; else uniform) or random (uniform over ordinary tokens).",
        },
    )
    bksp_head_only: bool = field(
        default=False,
        metadata={
            "group": "backspace",
            "read_when": "backspace",
            "help": "The <bksp> targets train only the <bksp> output row (their final hidden state is detached), not "
            "the network: on a pretrained model they otherwise flatten the distribution of ordinary tokens "
            "(docs/bksp_pretrained.md).",
        },
    )
    bksp_learning_rate: float | None = field(
        default=None,
        metadata={
            "group": "backspace",
            "read_when": "backspace",
            "help": "Learning rate of the trainable <bksp> embedding row under LoRA (peft's trainable tokens); the "
            "adapters keep --learning_rate. Default: 0.01 (at the adapters' rate the row learns too slowly and the "
            "adapters flatten the distribution instead: docs/bksp_pretrained.md).",
        },
    )
    chunked_loss: bool | None = field(
        default=None,
        metadata={
            "group": "objective",
            "help": f"true: compute the loss from the model's final hidden states, {CHUNK_HELP}, never holding the "
            "(batch, length, vocabulary) logits; same loss and gradients, peak memory O(chunk x vocabulary). false: "
            f"full logits. Default: true when the vocabulary has >= {CHUNKED_LOSS_MIN_VOCAB} entries, except under "
            "--fsdp/--deepspeed, which it does not support.",
        },
    )
    loss_chunk_size: int | None = field(
        default=None,
        metadata={
            "group": "objective",
            "help": "Positions per chunk of --chunked_loss. Default: about 8M logits per chunk (8388608 // vocab).",
        },
    )
    mle_warmup_steps: float = field(
        default=0,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "help": "Steps of pure MLE before the imitation objective starts; a value below 1 is a fraction of "
            "--max_steps (as --warmup_steps), so a recipe keeps its shape when --max_steps changes.",
        },
    )
    il_ramp_steps: int = field(
        default=0,
        metadata={
            "group": "objective",
            "read_when": "imitation",
            "help": "Steps over which eta (--il_weight) and c (--td_weight) rise linearly from 0 to their values "
            "once the imitation objective starts (after --mle_warmup_steps); 0: no ramp.",
        },
    )
    # --- rollouts (docs/design.md, "Rollouts and the mixture") ----------------------------------
    rollout_every: int = field(
        default=10,
        metadata={
            "group": "rollouts",
            "read_when": "online",
            "help": "Generate fresh policy samples every this many steps (online presets).",
        },
    )
    rollout_batch_size: int = field(
        default=32, metadata={"group": "rollouts", "read_when": "online", "help": "Sequences generated per rollout."}
    )
    rollout_buffer_size: int = field(
        default=256,
        metadata={"group": "rollouts", "read_when": "online", "help": "Replay buffer capacity (sequences)."},
    )
    rollout_temperature: float = field(
        default=1.0, metadata={"group": "rollouts", "read_when": "online", "help": "Sampling temperature of rollouts."}
    )
    policy_rows_per_batch: int | None = field(
        default=None,
        metadata={
            "group": "rollouts",
            "read_when": "online",
            "help": "Policy (replay) rows added to each micro-batch of data rows (default: half as many). The "
            "mixture weight mix_beta is applied by token means, so this sets cost and variance, not the weight.",
        },
    )
    max_new_tokens: int = field(
        default=32, metadata={"group": "rollouts", "help": "Bound on generated actions per rollout/evaluation sample."}
    )
    # --- run -------------------------------------------------------------------------------------
    logging_steps: float = field(
        default=0.05,
        metadata={
            "group": "run",
            "help": "Log every N steps; below 1, a fraction of the run (0.05: twenty lines however long the run). The "
            "printed line shows the loss and the preset's main terms; log_history.json and --report_to get every term.",
        },
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: the collator needs prompt_ids, completion_ids and example_index."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "group": "run",
            "help": "Replace what the output directory holds (a trained model, checkpoints of another run); its "
            "old checkpoints are removed. Without it (or --resume_from_checkpoint) a used directory is refused.",
        },
    )
    allow_unknown_chars: bool = field(
        default=False,
        metadata={
            "group": "data",
            "help": "Train even though the data holds characters the tokenizer maps to its unknown token.",
        },
    )

    def __post_init__(self):
        if self.output_dir is None:
            self.output_dir = "runs/imitlm"
        if isinstance(self.model_config, str):  # given as a JSON flag on the command line
            try:
                self.model_config = json.loads(self.model_config)
            except json.JSONDecodeError:
                raise UserError(f"--model_config must be a JSON object, got {self.model_config!r}") from None
        if self.model_config is not None and not isinstance(self.model_config, dict):
            raise UserError(f"model_config must be a mapping like {{model_type: gpt2}}, got {self.model_config!r}")
        self.quiet_without_accelerator()
        if self.use_cpu and self.ddp_backend and "WORLD_SIZE" not in os.environ:
            self.ddp_backend = None  # one process: a recipe's `gloo` for torchrun has no process group to join
        try:
            super().__post_init__()
        except UserError:
            raise
        except (ValueError, TypeError, FileNotFoundError, ImportError) as error:  # Trainer's own option checks
            reason = " ".join(str(error).split())
            raise UserError(f"{reason[:300]}; fix the option it names (see `imitlm train --help`)") from None
        self.validate()
        self.validate_combinations()
        self.resolve_step_fractions()

    def resolve_step_fractions(self) -> None:
        """Logging, evaluation and saving intervals given as fractions of --max_steps become step counts, as the
        Trainer would compute them: a resumed run then compares equal numbers with its checkpoint's trainer state
        (the Trainer warns about every fraction otherwise)."""
        if self.max_steps <= 0:
            return
        for name in ("logging_steps", "eval_steps", "save_steps"):
            value = getattr(self, name)
            if value is not None and 0 < value < 1:
                setattr(self, name, max(1, math.ceil(self.max_steps * value)))

    def quiet_without_accelerator(self) -> None:
        """On a machine (or a run) without an accelerator: no pinned memory, which torch would refuse with a warning
        for every data loader, and DeepSpeed told so before it is imported, rather than warning that it guessed."""
        import torch

        if not torch.accelerator.is_available():
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        if self.use_cpu or not torch.accelerator.is_available():
            self.dataloader_pin_memory = False

    @property
    def mle_warmup_count(self) -> int:
        """--mle_warmup_steps in steps: a value in (0, 1) is a fraction of --max_steps, rounded up (the rule the
        Trainer applies to --warmup_steps)."""
        steps = self.mle_warmup_steps
        if not 0 < steps < 1:
            return int(steps)
        if self.max_steps <= 0:
            raise UserError(
                f"--mle_warmup_steps {steps:g} is a fraction of --max_steps, which is not set; "
                "set --max_steps or give --mle_warmup_steps in steps"
            )
        return math.ceil(steps * self.max_steps)

    def validate(self) -> None:
        """Choices and the `--task text` data, then every number's range (`validation.RANGES`): one line each."""
        if self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {self.objective!r}; use one of: {', '.join(OBJECTIVES)}")
        if self.divergence is not None and self.divergence not in DIVERGENCE_NAMES:
            raise UserError(f"unknown divergence {self.divergence!r}; use one of: {', '.join(DIVERGENCE_NAMES)}")
        if self.noise_type not in NOISE_TYPES:
            raise UserError(f"unknown noise_type {self.noise_type!r}; use one of: {', '.join(NOISE_TYPES)}")
        check_attention(self.attn_implementation, backspace=PRESETS[self.objective].backspace)
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}; use one of: {', '.join(TASKS)}")
        if self.task == "text" and not self.dataset_name:
            raise UserError("--task text needs --dataset_name (a hub dataset name or a local jsonl/csv/parquet path)")
        check_options(self)

    def validate_combinations(self) -> None:
        """Options that contradict each other or that the run would silently ignore."""
        preset = PRESETS[self.objective]
        if self.noise_prob is not None and not preset.backspace:
            backspace = ", ".join(name for name, p in PRESETS.items() if p.backspace)
            raise UserError(
                f"--noise_prob inserts noise + <bksp>, but preset {self.objective!r} has no <bksp>; "
                f"drop --noise_prob or use one of: {backspace}"
            )
        if self.task == "arithmetic" and self.dataset_name:
            raise UserError("--dataset_name is read only with --task text; drop it or add --task text")
        if self.model_config is not None and self.model_name_or_path is not None:
            raise UserError(
                "model_config (a model from scratch) and --model_name_or_path (a pretrained model) are both set; "
                "keep one of them"
            )
        if self.max_steps == 0 or (self.max_steps < 0 and self.num_train_epochs <= 0):
            raise UserError(
                "this run would train 0 steps and save an untrained model; set --max_steps N > 0 "
                "(or --num_train_epochs > 0 with --max_steps -1)"
            )
        mle_warmup = self.mle_warmup_count
        if preset.use_il and 0 < self.max_steps <= mle_warmup:
            raise UserError(
                f"mle_warmup_steps={mle_warmup} >= max_steps={self.max_steps}: the whole run would be "
                f"plain MLE, not {self.objective}; lower --mle_warmup_steps or raise --max_steps"
            )
        il_steps = self.max_steps - mle_warmup
        if preset.use_il and self.max_steps > 0 and self.il_ramp_steps > il_steps:
            raise UserError(
                f"il_ramp_steps={self.il_ramp_steps} > max_steps - mle_warmup_steps = {il_steps}: the run would end "
                f"before {self.objective} reaches its full weights; lower --il_ramp_steps or raise --max_steps"
            )
        schedule = getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type)
        if 1 <= self.warmup_steps and 0 < self.max_steps <= self.warmup_steps and schedule not in NO_WARMUP:
            raise UserError(
                f"warmup_steps={self.warmup_steps:g} >= max_steps={self.max_steps}: the learning rate would never "
                f"reach {self.learning_rate:g}; lower --warmup_steps, or give it as a fraction of --max_steps (0.03)"
            )
        if self.warmup_steps > 0 and schedule in NO_WARMUP:
            raise UserError(
                f"--warmup_steps {self.warmup_steps:g} has no effect with --lr_scheduler_type {schedule} "
                "(transformers ignores it there); use --lr_scheduler_type constant_with_warmup, or drop --warmup_steps"
            )
        self.check_data_options()
        check_reporting(self.report_to)

    def check_data_options(self) -> None:
        local = self.task == "text" and self.dataset_name is not None and os.path.exists(self.dataset_name)
        if local and (self.dataset_test_split or self.dataset_config or self.dataset_train_split != "train"):
            raise UserError(
                f"{self.dataset_name} is a local file: it has one split and no configuration, so "
                "--dataset_test_split/--dataset_train_split/--dataset_config would be ignored (the test split would "
                "be the training rows); drop them, or use a hub dataset with splits"
            )
        has_eval_data = self.dataset_test_split if self.task == "text" else self.num_eval_examples > 0
        if self.eval_strategy != "no" and not has_eval_data:
            need = "--dataset_test_split (a hub dataset's split)" if self.task == "text" else "--num_eval_examples > 0"
            raise UserError(f"--eval_strategy {self.eval_strategy} needs evaluation data: set {need}, or drop it")


NO_WARMUP = ("constant", "reduce_lr_on_plateau")  # schedules on which transformers ignores --warmup_steps
IMITLM_METADATA = ("group", "preset", "read_when")  # metadata keys of ImitConfig's fields beside ``help``
# `imitlm train --help`'s sections, in the order shown; a field's metadata names its ``group``.
HELP_TITLES = {
    "objective": "objective (docs/design.md)",
    "backspace": "backspace",
    "rollouts": f"online rollouts ({', '.join(preset_names(online=True))})",
    "data": "task and data",
    "model": "model",
    "run": "recipe and run",
}
# A field's ``read_when``: (whether this config reads it, what to tell when it is set but unread).
READ_WHEN = {
    "online": (lambda c: PRESETS[c.objective].online, "the preset has no rollouts (use an online preset)"),
    "backspace": (lambda c: PRESETS[c.objective].backspace, "the preset has no <bksp> noise"),
    "imitation": (lambda c: PRESETS[c.objective].use_il, "the preset is plain MLE, with no imitation term"),
    "peft": (lambda c: c.use_peft, "--use_peft is off"),
    "arithmetic": (lambda c: c.task == "arithmetic", "they set the arithmetic questions and --task is text"),
}


def fields_with(key: str, value=True) -> tuple[str, ...]:
    """`ImitConfig`'s fields whose metadata has ``key`` == ``value``, in definition order."""
    return tuple(f.name for f in dataclasses.fields(ImitConfig) if f.metadata.get(key) == value)


PRESET_FIELDS = fields_with("preset")  # values that replace the preset's when set


@dataclass(frozen=True)
class ObjectiveSettings:
    """What a run trains with: the objective after the MLE warm-up and the ramp, and the `<bksp>` noise rate."""

    preset: str
    spec: ObjectiveSpec
    noise_prob: float  # noise + <bksp> per completion position; 0 for a preset without <bksp>

    def as_dict(self) -> dict:
        """The settings saved with a trained model (`imitlm_run.json`, config.json) and written by the demos."""
        spec = self.spec
        return {
            "preset": self.preset,
            "divergence": spec.phi.name,
            "gamma": spec.gamma,
            "td_weight": spec.td_weight,
            "mix_beta": spec.mix_beta,
            "il_weight": spec.il_weight,
            "q_temperature": spec.tau,
            "noise_prob": self.noise_prob,
        }


def objective_settings(config: str | Mapping | ImitConfig) -> ObjectiveSettings:
    """The effective objective settings, noise included: each value ``config`` sets (not None) replaces its preset's;
    the noise rate is 0 for a preset without `<bksp>`. The one place this rule lives: the trainer, the bench and the
    demos call it.

    ``config``: an `ImitConfig` (or any object with its fields), a recipe dict (`training.recipes`), or a preset name
    for the preset's own settings.
    """
    if isinstance(config, str):
        config = {"objective": config}
    if isinstance(config, Mapping):
        get = config.get
    else:

        def get(name, default=None):
            return getattr(config, name, default)

    preset = get_preset(get("objective", BASELINE))
    overrides = {name: get(name) for name in PRESET_FIELDS if get(name) is not None}
    tau = get("q_temperature")
    spec = preset.objective_spec(divergence=get("divergence"), tau=1.0 if tau is None else tau, **overrides)
    noise_prob = get("noise_prob")
    noise_prob = (preset.noise_prob if noise_prob is None else noise_prob) if preset.backspace else 0.0
    return ObjectiveSettings(preset.name, spec, noise_prob)


def ignored_options(config: ImitConfig) -> list[str]:
    """One line per group of options set away from their defaults that this run would not read."""
    defaults = {f.name: f.default for f in dataclasses.fields(ImitConfig)}
    lines = []
    for condition, (applies, reason) in READ_WHEN.items():
        unread = [
            f"--{name}" for name in fields_with("read_when", condition) if getattr(config, name) != defaults[name]
        ]
        if unread and not applies(config):
            lines.append(f"{', '.join(unread)} ignored: {reason}")
    return lines


def check_reporting(report_to) -> None:
    """`--report_to X` for an integration that is not installed fails when the Trainer is built; refuse it now."""
    from transformers.integrations import get_available_reporting_integrations

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    available = set(get_available_reporting_integrations())
    for name in names:
        if name not in ("none", "all") and name not in available:
            raise UserError(
                f"--report_to {name}: that integration is not installed; install it or use --report_to none"
            )
