"""`imitlm bench --model NAME`: the cost of each preset on a real pretrained model (default `smollm2-135m`), measured
side by side in one process on real `lee` prompt/continuation rows.

- ``train_step_ratio/real/{lora,full}/PRESET_vs_mle``: wall seconds per optimiser step of `ImitationTrainer` (from
  one step's end to the next, so data collation and the online presets' rollouts count), the mean over ``steps``
  steps after one warm-up step, against `mle` with the same adapter setting. Goals: <= 1.05 for offline presets,
  <= 2.0 for `sequencematch` (its rollouts of ``rollout_batch`` x ``rollout_tokens`` every ``steps`` steps are
  inside the window).
- ``train_step_ratio/real/lora/mle_vs_trl_sft``: imitlm's `mle` against TRL's `SFTTrainer` on the same rows, model,
  LoRA config (r 16 on q/k/v/o), batch, length and steps (goal <= 1.0).
- ``generation_throughput_ratio/real``: tokens/s of `generate_with_backspace` (sampling, `<bksp>` allowed) over
  `model.generate` on the same prompts (cut to equal length), both exactly ``gen_tokens`` new tokens (goal >= 1.0).
- ``memory_ratio/real/il_chunked_vs_mle_full``: peak memory of the chunked imitation step against MLE with full
  logits at the model's vocabulary, full fine-tuning, one child process each (`large_vocab.measure_memory`).

Variants run interleaved over ``rounds`` rounds, so slow drift of the machine hits every variant alike.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace

import torch
from transformers import TrainerCallback

from imitlm.benchmarking.common import DEFAULT, QUICK, summary, timed
from imitlm.objectives import BASELINE, PRESETS

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


@dataclass(frozen=True)
class RealBenchSettings:
    rows: int  # training rows (lee train split)
    batch: int
    max_length: int
    steps: int  # timed steps per run (after one warm-up step)
    rounds: int  # interleaved rounds of every variant
    rollout_batch: int
    rollout_tokens: int
    gen_batch: int
    gen_prompt_tokens: int
    gen_tokens: int
    memory_length: int  # tokens per row of the memory children (batch 2)
    memory_repeats: int
    modes: tuple[str, ...] = ("lora", "full")


REAL_DEFAULT = RealBenchSettings(
    rows=512, batch=8, max_length=128, steps=10, rounds=1, rollout_batch=8, rollout_tokens=24,
    gen_batch=8, gen_prompt_tokens=16, gen_tokens=24, memory_length=256, memory_repeats=2,
)  # fmt: skip
REAL_QUICK = RealBenchSettings(
    rows=16, batch=2, max_length=128, steps=1, rounds=1, rollout_batch=2, rollout_tokens=4,
    gen_batch=2, gen_prompt_tokens=8, gen_tokens=4, memory_length=32, memory_repeats=1, modes=("lora",),
)  # fmt: skip


class StepClock(TrainerCallback):
    """Wall seconds between consecutive optimiser steps' ends (the first step, from train begin, is a warm-up)."""

    def __init__(self):
        self.seconds, self.last = [], None

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.last is not None:
            self.seconds.append(now - self.last)
        self.last = now


def lee_rows(count: int):
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows("lee", "train")
    return rows.select(range(min(count, len(rows))))


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def time_imitlm(base, tokenizer, rows, preset: str, mode: str, settings: RealBenchSettings, out: str, cpu: bool):
    from imitlm.training.config import ImitConfig
    from imitlm.training.trainer import ImitationTrainer

    clock = StepClock()
    args = ImitConfig(
        output_dir=out, objective=preset, max_steps=settings.steps + 1, per_device_train_batch_size=settings.batch,
        max_length=settings.max_length, learning_rate=2e-4, rollout_every=settings.steps,
        rollout_batch_size=settings.rollout_batch, max_new_tokens=settings.rollout_tokens, use_cpu=cpu,
        report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=10_000, seed=0,
    )  # fmt: skip
    trainer = ImitationTrainer(
        model=copy.deepcopy(base), args=args, train_dataset=rows, processing_class=copy.deepcopy(tokenizer),
        peft_config=lora_config() if mode == "lora" else None, callbacks=[clock],
    )  # fmt: skip
    trainer.train()
    return clock.seconds


def time_trl_sft(base, tokenizer, rows, settings: RealBenchSettings, out: str, cpu: bool) -> list[float]:
    from trl import SFTConfig, SFTTrainer

    clock = StepClock()
    args = SFTConfig(
        output_dir=out, max_steps=settings.steps + 1, per_device_train_batch_size=settings.batch,
        max_length=settings.max_length, learning_rate=2e-4, use_cpu=cpu, report_to=[], save_strategy="no",
        disable_tqdm=True, logging_steps=10_000, seed=0,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=copy.deepcopy(base), args=args, train_dataset=rows, processing_class=copy.deepcopy(tokenizer),
        peft_config=lora_config(), callbacks=[clock],
    )  # fmt: skip
    trainer.train()
    return clock.seconds


def bench_real_training(base, tokenizer, settings: RealBenchSettings, tmp: str, cpu: bool, log) -> tuple[dict, dict]:
    rows = lee_rows(settings.rows)
    seconds: dict[str, list[float]] = {}
    for _ in range(settings.rounds):
        for mode in settings.modes:
            for preset in PRESETS:
                log(f"[bench] real model: {preset} ({mode}), {settings.steps} steps")
                seconds.setdefault(f"{mode}/{preset}", []).extend(
                    time_imitlm(base, tokenizer, rows, preset, mode, settings, tmp, cpu)
                )
        log(f"[bench] real model: TRL SFTTrainer (lora), {settings.steps} steps")
        seconds.setdefault("lora/trl_sft", []).extend(time_trl_sft(base, tokenizer, rows, settings, tmp, cpu))
    mean = {name: sum(values) / len(values) for name, values in seconds.items()}
    ratios = {}
    for mode in settings.modes:
        for preset in PRESETS:
            if preset != BASELINE:
                goal = "<= 2.0" if PRESETS[preset].online and PRESETS[preset].backspace else None
                goal = goal or ("<= 1.05" if not PRESETS[preset].online else None)
                ratio = mean[f"{mode}/{preset}"] / mean[f"{mode}/{BASELINE}"]
                ratios[f"train_step_ratio/real/{mode}/{preset}_vs_mle"] = summary([ratio], goal)
    ratio = mean[f"lora/{BASELINE}"] / mean["lora/trl_sft"]
    ratios["train_step_ratio/real/lora/mle_vs_trl_sft"] = summary([ratio], "<= 1.0")
    measurements = {f"real/seconds_per_step/{name}": summary(values) for name, values in seconds.items()}
    return ratios, measurements


def bench_real_generation(base, tokenizer, settings: RealBenchSettings, repeats: int, device, log):
    from imitlm.models import add_backspace
    from imitlm.rollout.generate import generate_with_backspace

    model, tokenizer = copy.deepcopy(base).to(device).eval(), copy.deepcopy(tokenizer)
    bksp = add_backspace(tokenizer, model)
    prompts = [tokenizer(p)["input_ids"][: settings.gen_prompt_tokens] for p in lee_rows(200)["prompt"]]
    prompts = [p for p in prompts if len(p) == settings.gen_prompt_tokens][: settings.gen_batch]
    ids = torch.tensor(prompts, device=device)  # (B, P): equal lengths, so Hugging Face needs no padding
    log(f"[bench] real model: generation, {len(prompts)} prompts x {settings.gen_tokens} tokens, {repeats} repeats")

    def ours():
        result = generate_with_backspace(
            model, prompts, bksp_id=bksp, eos_id=-1, pad_id=tokenizer.pad_token_id,
            max_new_actions=settings.gen_tokens, do_sample=True, allow_backspace=True,
            generator=torch.Generator(device=device).manual_seed(0),
        )  # fmt: skip
        return sum(len(a) for a in result.actions)

    def hf():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=settings.gen_tokens,
            min_new_tokens=settings.gen_tokens, top_k=0, top_p=1.0, temperature=1.0,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )  # fmt: skip
        return (out.shape[1] - ids.shape[1]) * ids.shape[0]

    per_repeat = []
    for index in range(1 + repeats):
        seconds_ours, n_ours = timed(ours, device)
        seconds_hf, n_hf = timed(hf, device)
        if index:  # the first round warms both up
            per_repeat.append((n_ours / seconds_ours) / (n_hf / seconds_hf))
    return {"generation_throughput_ratio/real": summary(per_repeat, ">= 1.0")}, {}


def bench_real_memory(model_name: str, settings: RealBenchSettings, device, log) -> tuple[dict, dict]:
    from imitlm.benchmarking.large_vocab import measure_memory, peak_ratios

    vocab = real_vocab(model_name)
    cell = replace(
        QUICK if settings is REAL_QUICK else DEFAULT,
        large_length=settings.memory_length,
        memory_repeats=settings.memory_repeats,
        memory_steps=2,
    )
    log(f"[bench] real model: peak memory of full fine-tuning steps at vocabulary {vocab}, one child each")
    runs = measure_memory(cell, vocab, device, model=model_name)
    ratios = {
        "memory_ratio/real/il_chunked_vs_mle_full": summary(peak_ratios(runs["il_chunked"], runs["mle_full"])),
        "memory_ratio/real/il_chunked_vs_mle_chunked": summary(peak_ratios(runs["il_chunked"], runs["mle_chunked"])),
    }
    peaks = {f"real/peak_mib/{name}": summary([r["peak_bytes"] / 2**20 for r in rows]) for name, rows in runs.items()}
    return ratios, peaks


def real_vocab(model_name: str) -> int:
    """The vocabulary once `<bksp>` is added: the memory children's synthetic ids use the last id as `<bksp>`."""
    from transformers import AutoConfig

    from imitlm.models import resolve_model_path

    return AutoConfig.from_pretrained(resolve_model_path(model_name)).vocab_size + 1


def load_real_model(model_name: str, vocab: int | None = None):
    """The model in float32, train mode; ``vocab``: embeddings resized (mean-resizing) to that many rows."""
    from transformers import AutoModelForCausalLM

    from imitlm.models import resolve_model_path

    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(model_name), dtype=torch.float32)
    if vocab is not None and vocab != model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(vocab, mean_resizing=True)
    return model.train()


def run_real_bench(model_name: str, quick: bool, device: torch.device, log=print) -> tuple[dict, dict, dict]:
    """(ratios, measurements, settings) of every real-model section."""
    import tempfile
    from dataclasses import asdict

    from transformers import AutoTokenizer

    from imitlm.models import resolve_model_path

    settings = REAL_QUICK if quick else REAL_DEFAULT
    base = load_real_model(model_name)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model_name))
    ratios, measurements = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for section in (
            lambda: bench_real_training(base, tokenizer, settings, tmp, device.type == "cpu", log),
            lambda: bench_real_generation(base, tokenizer, settings, 1 if quick else 5, device, log),
            lambda: bench_real_memory(model_name, settings, device, log),
        ):
            section_ratios, section_measurements = section()
            ratios.update(section_ratios)
            measurements.update(section_measurements)
    return ratios, measurements, {"model": model_name, **asdict(settings)}
