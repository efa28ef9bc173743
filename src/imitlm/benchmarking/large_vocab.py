"""Ratio 5: the imitation step at real vocabulary sizes, with the chunked loss, against MLE steps (issue 14).

A 2-layer, 256-wide Llama-shaped model (4 heads, MLP 1024, untied output head as in Llama 3) at each vocabulary
of `large_vocabs` (32000 and 128256; `--quick`: 128256 only, and fewer tokens), batch 2 x `large_length` tokens
(1024). Three steps over rows of the same length, each forward + backward + AdamW step:

- ``il_chunked``: the trainer's `sequencematch` step (`train_step.train_step`: `<bksp>` layout with noise, one data
  and one policy row, the objective) with the chunked loss (`objectives.chunked`, `default_chunk_size(vocab)`);
- ``mle_chunked``: the fair peer, plain MLE on two data rows from the same hidden states with chunked cross-entropy
  (`objectives.chunked_cross_entropy`, same chunk size and the same checkpointing);
- ``mle_full``: transformers' own loss, ``model(input_ids, labels=...)``, which builds the (B, T, V) logits;
- ``floor`` (memory only): no forward pass, a zero loss over every parameter, backward and AdamW step. It holds
  what every step holds (the process, model, gradients, AdamW state), so ``memory_ratio/floor_vs_mle_full/vocabV``
  is the lowest peak-memory ratio that any loss, however frugal, could reach against ``mle_full``, and
  ``memory_ratio/il_chunked_vs_mle_full_above_floor/vocabV`` compares what the two steps add above that floor.

``memory_ratio/il_chunked_vs_mle_full_without_process/vocabV`` takes out of both peaks what the child held before
building the model (on CPU its resident size with torch and transformers imported; on CUDA the memory allocated
then, nothing): the accounting of ``torch.cuda.max_memory_allocated``, which counts tensors and not the process.

Ratios (per vocabulary V): ``memory_ratio/il_chunked_vs_mle_full/vocabV`` (goal <= 0.5),
``memory_ratio/il_chunked_vs_mle_chunked/vocabV`` (goal <= 1.10) and ``train_step_ratio/il_chunked_vs_mle_chunked/
vocabV`` (time per token, goal <= 1.10); ``train_step_ratio/il_chunked_vs_mle_full/vocabV`` for information. Peak
memory is measured as ratio 4 does (`memory.measure_peak`: one child process per measurement, peak RSS on CPU,
`torch.cuda.max_memory_allocated` on CUDA), children one at a time since the full-logit one needs gigabytes.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys

import torch

from imitlm.benchmarking.common import EOS_ID, PAD_ID, BenchSettings, summary, timed
from imitlm.benchmarking.memory import current_rss, measure_peak, settings_from_dict
from imitlm.benchmarking.train_step import FULL, TrainCase, equal_shape_case, make_case, train_step
from imitlm.objectives import BASELINE, chunked_cross_entropy, default_chunk_size

TIMED = ("il_chunked", "mle_chunked", "mle_full")
STEPS = TIMED + ("floor",)  # memory children
GOALS = {"memory_ratio/il_chunked_vs_mle_full": "<= 0.5", "memory_ratio/il_chunked_vs_mle_chunked": "<= 1.10"}
GOALS["train_step_ratio/il_chunked_vs_mle_chunked"] = "<= 1.10"


def make_llama(settings: BenchSettings, device: torch.device):
    """The 2-layer Llama-shaped model (untied head, dropout-free), `<bksp>` = the last id."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(settings.seed)
    width = settings.large_width
    config = LlamaConfig(
        vocab_size=settings.vocab,
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=settings.large_length + 8,
        tie_word_embeddings=False,
        bos_token_id=EOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa").to(device)
    model.config.bksp_token_id = settings.bksp_id
    return model


def cell_settings(settings: BenchSettings, vocab: int) -> BenchSettings:
    return dataclasses.replace(settings, vocab=vocab, train_batch=settings.large_batch)


def mle_labels(case: TrainCase) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, labels) of the `mle` batch for transformers' loss: the prompt is not a target."""
    ids = case.batch["input_ids"]
    labels = ids.clone()
    labels[:, : case.batch["prompt_lengths"].min()] = -100  # the data rows' prompts all have the same length
    return ids, labels


def mle_full_step(model, optimizer, case: TrainCase) -> None:
    ids, labels = mle_labels(case)
    model(input_ids=ids, labels=labels).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def mle_chunked_step(model, optimizer, case: TrainCase) -> None:
    """The same MLE loss as `mle_full_step`, from the hidden states with chunked cross-entropy."""
    from imitlm.models import hidden_and_head

    ids, labels = mle_labels(case)
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)  # (B, T): token at i + 1
    _, hidden, head = hidden_and_head(model, {"input_ids": ids})
    total, count = chunked_cross_entropy(hidden, head, targets, case.chunk_size)
    (total / count).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def floor_step(model, optimizer) -> None:
    """A step without a loss worth the name: zero gradients for every parameter, then AdamW's update."""
    sum(parameter.sum() for parameter in model.parameters()).mul(0.0).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def make_steps(settings: BenchSettings, vocab: int, device: torch.device, model_name: str | None = None):
    """(model, {step name: callable}, tokens per step) for one vocabulary; ``model_name``: a real pretrained model
    (`real_model.load_real_model`, resized to ``vocab``) instead of the Llama-shaped one."""
    cell = cell_settings(settings, vocab)
    if model_name is None:
        model = make_llama(cell, device).train()
    else:
        from imitlm.benchmarking.real_model import load_real_model

        model = load_real_model(model_name, vocab).to(device)
        model.config.bksp_token_id = cell.bksp_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    chunk = default_chunk_size(vocab)
    il_case = equal_shape_case(cell, FULL, cell.large_batch, cell.large_length, device)
    il_case.chunk_size = chunk
    mle_case = make_case(cell, BASELINE, cell.large_batch, cell.large_length, device)
    mle_case.chunk_size = chunk
    steps = {
        "il_chunked": lambda: train_step(model, optimizer, il_case, {}),
        "mle_chunked": lambda: mle_chunked_step(model, optimizer, mle_case),
        "mle_full": lambda: mle_full_step(model, optimizer, mle_case),
        "floor": lambda: floor_step(model, optimizer),
    }
    tokens = {"il_chunked": il_case.tokens, "mle_chunked": mle_case.tokens, "mle_full": mle_case.tokens, "floor": 0}
    return model, steps, tokens


def child(spec: dict) -> dict:
    """In a child process: `memory_steps` of one step kind at one vocabulary; peak and baseline bytes."""
    settings = settings_from_dict(spec["settings"])
    device = torch.device(spec["device"])
    torch.set_num_threads(1)  # memory does not depend on the thread count
    import transformers  # noqa: F401  (imported before the process's own memory is read)

    gc.collect()
    process = current_rss() if device.type != "cuda" else torch.cuda.memory_allocated(device)
    _, steps, tokens = make_steps(settings, spec["vocab"], device, spec.get("model"))
    step = steps[spec["step"]]
    runs = min(settings.memory_steps, 2)  # the second step holds the optimiser's state too
    peak = measure_peak(device, lambda: [step() for _ in range(runs)])
    return {**peak, "process_bytes": process, "tokens": tokens[spec["step"]]}


def measure_memory(
    settings: BenchSettings, vocab: int, device: torch.device, model: str | None = None
) -> dict[str, list[dict]]:
    """`memory_repeats` child processes per step kind; all at once when the full logits are small, else two at a
    time (a full-logit child at vocabulary 128256 and 1024 tokens peaks at several GB). ``model``: a real model's
    name or path (`make_steps`)."""
    from imitlm.benchmarking.common import settings_dict

    env = dict(os.environ, OMP_NUM_THREADS="1")
    logits_bytes = 4 * settings.large_batch * settings.large_length * vocab
    at_once = len(STEPS) if logits_bytes < 2**28 else 2
    queue = [name for _ in range(settings.memory_repeats) for name in STEPS]  # interleaved over the kinds
    results = {name: [] for name in STEPS}
    while queue:
        started, queue = queue[:at_once], queue[at_once:]
        children = []
        for name in started:
            spec = {"settings": settings_dict(settings), "device": str(device), "vocab": vocab, "step": name}
            spec["model"] = model
            command = [sys.executable, "-m", "imitlm.benchmarking.large_vocab", json.dumps(spec)]
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            children.append((name, process))
        for name, process in children:
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"large-vocabulary memory child {name} (vocab {vocab}) failed:\n{stderr[-2000:]}")
            results[name].append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def measure_time(settings: BenchSettings, vocab: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per token of each step kind, interleaved, `large_repeats` rounds after `warmup`."""
    model, steps, tokens = make_steps(settings, vocab, device)
    per_token = {name: [] for name in TIMED}
    for round_index in range(settings.warmup + settings.large_repeats):
        for name in TIMED:
            step = steps[name]
            seconds, _ = timed(step, device)
            if round_index >= settings.warmup:
                per_token[name].append(seconds / tokens[name])
    return per_token


def peak_ratios(tops: list[dict], bottoms: list[dict], less=lambda row, index: 0) -> list[float]:
    """Per repeat, top peak / bottom peak of two step kinds measured side by side; ``less(row, index)`` is taken out
    of each peak first (memory both sides hold anyway), leaving at least one byte."""
    return [
        max(a["peak_bytes"] - less(a, i), 1) / max(b["peak_bytes"] - less(b, i), 1)
        for i, (a, b) in enumerate(zip(tops, bottoms))
    ]


def bench_large_vocab(settings: BenchSettings, device: torch.device, log=print) -> tuple[dict, dict]:
    """Ratio 5 at each vocabulary of `large_vocabs`; returns (ratios, measurements)."""
    ratios, measurements = {}, {}
    B, T = settings.large_batch, settings.large_length
    for vocab in settings.large_vocabs:
        log(f"[bench] large vocabulary {vocab}: batch {B} x {T}, {settings.large_repeats} timed rounds")
        per_token = measure_time(settings, vocab, device)
        log(f"[bench] large vocabulary {vocab}: peak memory, {settings.memory_repeats} child per step kind")
        memory = measure_memory(settings, vocab, device)
        suffix = f"vocab{vocab}"
        for peer in ("mle_chunked", "mle_full"):
            name = f"train_step_ratio/il_chunked_vs_{peer}"
            values = [a / b for a, b in zip(per_token["il_chunked"], per_token[peer])]
            ratios[f"{name}/{suffix}"] = summary(values, GOALS.get(name))
            name = f"memory_ratio/il_chunked_vs_{peer}"
            ratios[f"{name}/{suffix}"] = summary(peak_ratios(memory["il_chunked"], memory[peer]), GOALS.get(name))
        ratios[f"memory_ratio/floor_vs_mle_full/{suffix}"] = summary(peak_ratios(memory["floor"], memory["mle_full"]))
        # what each step adds over the floor measured beside it: the loss's own memory
        il, full, floor = memory["il_chunked"], memory["mle_full"], memory["floor"]
        above = peak_ratios(il, full, lambda _, i, floor=floor: floor[i]["peak_bytes"])
        ratios[f"memory_ratio/il_chunked_vs_mle_full_above_floor/{suffix}"] = summary(above)
        without = peak_ratios(il, full, lambda row, _: row["process_bytes"])
        ratios[f"memory_ratio/il_chunked_vs_mle_full_without_process/{suffix}"] = summary(without)
        for name in STEPS:
            if name in per_token:
                measurements[f"large_vocab/us_per_token/{name}/{suffix}"] = summary([1e6 * v for v in per_token[name]])
            measurements[f"large_vocab/peak_mib/{name}/{suffix}"] = summary(
                [r["peak_bytes"] / 2**20 for r in memory[name]]
            )
            measurements[f"large_vocab/process_mib/{name}/{suffix}"] = summary(
                [r["process_bytes"] / 2**20 for r in memory[name]]
            )
            measurements[f"large_vocab/step_increment_mib/{name}/{suffix}"] = summary(
                [(r["peak_bytes"] - r["baseline_bytes"]) / 2**20 for r in memory[name]]
            )
        measurements[f"large_vocab/chunk_size/{suffix}"] = default_chunk_size(vocab)
    return ratios, measurements


if __name__ == "__main__":
    print(json.dumps(child(json.loads(sys.argv[1]))))
