"""One typed schema per command other than `train` (which parses into `ImitConfig`), read by `HfArgumentParser`.

Options several commands share live in one dataclass each (`ModelArguments`, `SamplingArguments`, ...); a command's
schema is the tuple of the dataclasses it uses. An option left at None takes the value the model was trained with
(saved in its config.json by `imitlm train`, see `models.run_settings`), then the default named in its help.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ["train", "validation", "test"]


@dataclass(kw_only=True)
class ModelArguments:
    model: str = field(
        metadata={
            "help": "Trained model directory (the output_dir of `imitlm train`), hub name, GGUF file (x.gguf) or "
            "built-in offline name (smollm2-135m)."
        }
    )
    gguf_file: str | None = field(
        default=None, metadata={"help": "A GGUF file inside the --model directory (converted once and cached)."}
    )


@dataclass(kw_only=True)
class SamplingArguments:
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Bound on generated actions per sample (default: the training run's, else 32)."}
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    batch_size: int = field(default=64, metadata={"help": "Prompts generated or scored at once."})


@dataclass(kw_only=True)
class TaskArguments:
    task: str | None = field(
        default=None,
        metadata={
            "help": "arithmetic: a shipped task split (accuracy). text: open-ended generation on --data "
            "(perplexity, distinct-n, Self-BLEU, MAUVE). Default: the training run's task when no --data.",
            "choices": ["arithmetic", "text"],
        },
    )
    data: str | None = field(
        default=None, metadata={"help": "Or a local jsonl/csv/parquet file of prompt/completion rows."}
    )
    split: str = field(default="test", metadata={"help": "Task split.", "choices": SPLITS})
    num_examples: int = field(default=200, metadata={"help": "How many questions (0: all rows of --data)."})
    difficulty: int | None = field(
        default=None, metadata={"help": "Arithmetic difficulty 0-3 (default: the training run's, else 1)."}
    )
    task_seed: int | None = field(
        default=None,
        metadata={"help": "Seed of the arithmetic question generator (default: the training run's, else 0)."},
    )


@dataclass(kw_only=True)
class EvaluateArguments(ModelArguments, SamplingArguments, TaskArguments):
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy decoding."})
    output: str | None = field(
        default=None, metadata={"help": "Where to write the JSON result (default: MODEL/eval_SPLIT.json)."}
    )
    forced_error_rates: list[float] = field(
        default_factory=list,
        metadata={
            "help": "Also report greedy accuracy with forced errors at these rates (e.g. 0.05 0.1: each action is "
            "a random answer character with that probability), the demo's measure of recovery from mistakes.",
        },
    )
    prompt_tokens: int = field(
        default=8, metadata={"help": "--task text: plain-text rows are prompted with their first N tokens."}
    )
    mauve_features_model: str | None = field(
        default=None,
        metadata={
            "aliases": ["--mauve_features"],
            "help": "--task text: MAUVE's feature model (needs the mauve extra): smollm2-135m (SmolLM2's final "
            "hidden state at the last token; the default, justified in docs/models.md), all-minilm-l6-v2 (a "
            "sentence encoder, blind to word order), a local model directory, or none (no MAUVE).",
        },
    )


@dataclass(kw_only=True)
class GenerateArguments(ModelArguments, SamplingArguments):
    """`--temperature 0` means greedy decoding."""

    prompt: str = field(metadata={"help": "Prompt text, e.g. 'In base 9, what is -118 + 17301? '."})
    num_return_sequences: int = field(default=1, metadata={"help": "Samples to draw for the prompt."})
    top_k: int = field(default=0, metadata={"help": "Keep only the k most likely actions (0: all)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (1.0: off)."})
    json: bool = field(
        default=False, metadata={"help": "Print one JSON object per sample (text, actions, num_backspaces)."}
    )


@dataclass(kw_only=True)
class RewardsArguments(ModelArguments):
    data: str = field(metadata={"help": "jsonl/csv/parquet file of prompt/completion (or text) rows."})
    output: str | None = field(default=None, metadata={"help": "JSON-lines output (default: stdout)."})
    gamma: float | None = field(
        default=None, metadata={"help": "Discount (default: the gamma the model was trained with, else 0.998)."}
    )
    q_temperature: float | None = field(
        default=None, metadata={"help": "Temperature tau of the soft value (default: the training run's, else 1)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Rows scored at once."})


@dataclass(kw_only=True)
class DemoArguments:
    quick: bool = field(default=False, metadata={"help": "A seconds-long smoke run with tiny settings."})
    full: bool = field(
        default=False,
        metadata={"help": "The longer configuration: the 4-layer Llama base (about an hour on 2 CPU cores)."},
    )
    output_dir: str = field(default="runs/demo", metadata={"help": "Where models, results.json and report.md go."})
    model: str | None = field(
        default=None,
        metadata={
            "help": "A pretrained model (hub name, directory, .gguf file, or smollm2-135m): every preset fine-tuned "
            "from it with LoRA, 3 seeds, on arithmetic and on lee prose (default output_dir runs/demo-model)."
        },
    )
    task: str = field(
        default="arithmetic",
        metadata={
            "help": "arithmetic, or text: the presets on English news prose (needs pip install 'imitlm[text]'; "
            "default output_dir runs/demo-text).",
            "choices": ["arithmetic", "text"],
        },
    )


@dataclass(kw_only=True)
class BenchArguments:
    quick: bool = field(
        default=False,
        metadata={
            "help": "Tiny sizes and 2-3 repeats: a smoke run (the large-vocabulary rows, at vocabulary 128256 "
            "and 64 tokens, take most of its time)."
        },
    )
    output: str | None = field(
        default=None, metadata={"help": "Write the JSON result here (e.g. benchmarks/results/cpu.json)."}
    )
    device: str | None = field(
        default=None, metadata={"help": "Default: cuda if available, else cpu.", "choices": ["cpu", "cuda"]}
    )
    only: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated subset of the measurements: train,generation,online,memory,large_vocab "
            "(default: all)."
        },
    )
    model: str | None = field(
        default=None,
        metadata={
            "help": "Measure on this pretrained model instead (e.g. smollm2-135m; any name, directory or GGUF): "
            "every preset's step against mle with LoRA and full fine-tuning, mle against TRL's SFTTrainer, "
            "generation, peak memory at its vocabulary."
        },
    )


@dataclass(kw_only=True)
class SweepArguments:
    """Options of `imitlm sweep`. Flags after these are `imitlm train` options that override the recipe's keys
    (e.g. `--max_steps 300 --save_strategy no`); the trial's parameters override both."""

    config: str = field(metadata={"help": "YAML recipe each trial trains from (see configs/)."})
    space: str = field(
        metadata={"help": "YAML search space: ImitConfig field -> {type: float|int|categorical, low, high, ...}."}
    )
    trials: int = field(default=20, metadata={"help": "Number of trials (each trains --seeds models)."})
    metric: str = field(
        default="accuracy",
        metadata={
            "help": "Validation score: accuracy (greedy exact match), accuracy_forced_0.05/0.1 (greedy with forced "
            "wrong digits), perplexity (minimised; the only one for --task text).",
            "choices": ["accuracy", "accuracy_forced_0.05", "accuracy_forced_0.1", "perplexity"],
        },
    )
    num_eval_examples: int = field(
        default=200, metadata={"help": "Validation questions (rows for text) scored per trial (0: all rows)."}
    )
    seeds: int = field(
        default=1, metadata={"help": "Training seeds per trial (seed, seed+1, ...); the score is the mean."}
    )
    sampler_seed: int = field(default=0, metadata={"help": "Seed of Optuna's TPE sampler."})
    output_dir: str = field(
        default="runs/sweep", metadata={"help": "Trials train into OUTPUT_DIR/trial_K; sweep.json/csv/png go here."}
    )
    validation_data: str | None = field(
        default=None, metadata={"help": "--task text: local jsonl/csv/parquet file of validation rows."}
    )
    validation_split: str = field(
        default="validation", metadata={"help": "--task text with a hub dataset: the split scored (never test)."}
    )


COMMAND_SCHEMAS = {
    "evaluate": EvaluateArguments,
    "generate": GenerateArguments,
    "rewards": RewardsArguments,
    "demo": DemoArguments,
    "bench": BenchArguments,
    "sweep": SweepArguments,
}
