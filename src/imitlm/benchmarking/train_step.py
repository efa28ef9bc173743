"""Ratio 1: one training step of each preset over the same data batch, per token, against `mle`.

A step is what `ImitationTrainer` runs per batch, without the Trainer around it: `make_layout`, one
forward pass, `imitation_loss` with the preset's `ObjectiveSpec`, the finiteness check and metric
accumulation of `compute_loss`, backward, AdamW step (no gradient clipping: the same for every preset).
Rollouts are excluded: the online presets take their policy rows from a replay buffer filled beforehand.

Every step feeds tensors of the same shape, (batch, length), so the ratio shows the cost of the layout
and the objective alone, per token processed:
- data rows are prompt + completion of exactly `length` tokens; the backspace presets' rows go through
  the real collator (noise + `<bksp>` inserted) and are then cut back to `length`;
- the online presets' batch is the first half of the data rows plus as many policy rows. (At one
  `per_device_train_batch_size` the Trainer feeds all data rows *plus* as many policy rows, twice the
  tokens: `train_step_ratio/sequencematch_same_data_rows` measures that step, per token, too. At tiny
  sizes it looks cheaper per token only because fixed costs such as the optimiser step are shared.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imitlm.backspace.layout import make_layout, target_counts
from imitlm.benchmarking.common import EOS_ID, FIRST_ORDINARY, PAD_ID, BenchSettings, summary, timed
from imitlm.data.batches import concat_batches
from imitlm.models import model_dtype
from imitlm.objectives import BASELINE, PRESETS, ObjectiveSpec, get_preset, preset_names
from imitlm.rollout.buffer import ReplayBuffer
from imitlm.training.collator import ImitationCollator
from imitlm.training.config import objective_settings
from imitlm.training.loss_step import imitation_forward

BASELINE_FIRST = (BASELINE,) + tuple(name for name in PRESETS if name != BASELINE)  # ratios are against it
GOALS = {name: "<= 1.05" for name in BASELINE_FIRST[1:]}
FULL = preset_names(online=True, backspace=True)[0]  # SequenceMatch: <bksp>, noise and rollouts
SAME_ROWS = f"{FULL}_same_data_rows"  # its step with all data rows plus as many policy rows
POLICY_BKSP_RATE = 0.02  # share of `<bksp>` in the pre-filled rollouts of backspace presets


@dataclass
class TrainCase:
    """One preset's batch on the device, with what `compute_loss` needs besides the model."""

    name: str
    batch: dict[str, torch.Tensor]
    counts: torch.Tensor  # (2,) data / policy target counts, on the device
    spec: ObjectiveSpec
    bksp_id: int | None
    tokens: int  # positions fed to the model that hold a token (not padding)
    eos_id: int = EOS_ID
    pad_id: int = PAD_ID
    chunk_size: int | None = None  # the chunked loss (`objectives.chunked`), or None for full logits


def data_rows(settings: BenchSettings, batch_size: int, length: int, seed: int) -> list[dict]:
    """`batch_size` rows of prompt + completion (ending in EOS), `length` tokens in all."""
    generator = torch.Generator().manual_seed(seed)
    high = settings.bksp_id  # ordinary ids are FIRST_ORDINARY .. bksp_id - 1
    P = settings.prompt_length
    rows = []
    for index in range(batch_size):
        prompt = torch.randint(FIRST_ORDINARY, high, (P,), generator=generator).tolist()
        completion = torch.randint(FIRST_ORDINARY, high, (length - P - 1,), generator=generator).tolist() + [EOS_ID]
        rows.append({"prompt_ids": prompt, "completion_ids": completion, "example_index": index})
    return rows


def policy_items(settings: BenchSettings, num_rows: int, length: int, backspace: bool, seed: int):
    """Stand-ins for rollouts: (prompt, actions) of `length` tokens, with rare legal `<bksp>` if `backspace`."""
    generator = torch.Generator().manual_seed(seed)
    P = settings.prompt_length
    items = []
    for _ in range(num_rows):
        prompt = torch.randint(FIRST_ORDINARY, settings.bksp_id, (P,), generator=generator).tolist()
        tokens = torch.randint(FIRST_ORDINARY, settings.bksp_id, (length - P,), generator=generator).tolist()
        coins = torch.rand(length - P, generator=generator) < POLICY_BKSP_RATE
        actions, depth = [], 0
        for token, coin in zip(tokens, coins.tolist()):
            if backspace and coin and depth > 0:
                actions.append(settings.bksp_id)
                depth -= 1
            else:
                actions.append(token)
                depth += 1
        items.append((prompt, actions))
    return items


def crop(batch: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """Cut a batch back to `width` positions (rows become truncated sequences)."""
    out = dict(batch)
    out["input_ids"] = batch["input_ids"][:, :width].contiguous()
    out["noise_mask"] = batch["noise_mask"][:, :width].contiguous()
    out["lengths"] = batch["lengths"].clamp(max=width)
    return out


def make_case(
    settings: BenchSettings,
    preset_name: str,
    batch_size: int,
    length: int,
    device: torch.device,
    policy_rows: int = 0,
    name: str | None = None,
) -> TrainCase:
    """The batch a preset's training step sees: `batch_size` collated data rows (+ `policy_rows` replay rows if
    online)."""
    preset = get_preset(preset_name)
    objective = objective_settings(preset_name)  # the preset's own settings, as `imitlm train` resolves them
    bksp_id = settings.bksp_id if preset.backspace else None
    collator = ImitationCollator(
        pad_id=PAD_ID,
        bksp_id=bksp_id,
        noise_prob=objective.noise_prob,
        noise_token_ids=list(range(FIRST_ORDINARY, settings.bksp_id)),
        seed=settings.seed,
        eos_id=EOS_ID,
    )
    batch = crop(collator(data_rows(settings, batch_size, length, settings.seed + length)), length)
    if preset.online and policy_rows > 0:
        replay = ReplayBuffer(capacity=4 * batch_size)
        replay.add(policy_items(settings, 4 * batch_size, length, preset.backspace, settings.seed + 1))
        generator = torch.Generator().manual_seed(settings.seed + 2)
        batch = concat_batches(batch, replay.sample_batch(policy_rows, generator, PAD_ID), PAD_ID)
    counts = target_counts(batch)  # on the host, as the Trainer computes them
    return TrainCase(
        name=name or preset_name,
        batch={k: v.to(device) for k, v in batch.items()},
        counts=counts.to(device),
        spec=objective.spec,
        bksp_id=bksp_id,
        tokens=int(batch["lengths"].sum()),
    )


def equal_shape_case(
    settings: BenchSettings, preset_name: str, batch_size: int, length: int, device: torch.device
) -> TrainCase:
    """`batch_size` rows of `length` tokens: all data, or half data and half policy rows for online presets."""
    if get_preset(preset_name).online:
        half = max(batch_size // 2, 1)
        return make_case(settings, preset_name, half, length, device, policy_rows=max(batch_size - half, 1))
    return make_case(settings, preset_name, batch_size, length, device)


def train_step(model, optimizer, case: TrainCase, metric_sums: dict) -> torch.Tensor:
    """The trainer's loss step (`training.loss_step.imitation_forward`, as `ImitationTrainer.compute_loss` calls it)
    with its finiteness check and on-device metric sums, then backward and an optimiser step; returns the loss."""
    loss, metrics, _ = imitation_forward(
        model,
        case.batch,
        case.spec,
        case.counts,
        bksp_id=case.bksp_id,
        eos_id=case.eos_id,
        pad_id=case.pad_id,
        chunk_size=case.chunk_size,
    )
    if not bool(torch.isfinite(loss)):
        raise FloatingPointError(f"non-finite loss in the {case.name} step")
    for name, value in metrics.items():  # the trainer keeps its metric sums on the device
        metric_sums[name] = metric_sums.get(name, 0.0) + value.detach().float()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def hf_labels_step(model, optimizer, case: TrainCase) -> None:
    """Reference: a plain Hugging Face step (`model(input_ids, labels=...)`) on the `mle` batch."""
    ids = case.batch["input_ids"]
    labels = ids.clone()
    labels[:, : case.batch["prompt_lengths"].min()] = -100  # prompts of the data rows all have the same length
    model(input_ids=ids, labels=labels).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure_cell(
    model,
    optimizer,
    settings: BenchSettings,
    batch_size: int,
    length: int,
    device: torch.device,
    repeats: int,
    presets=BASELINE_FIRST,
    reference: bool = False,
) -> dict:
    """Seconds per token of each preset's step (interleaved, `repeats` rounds after warm-up).

    Returns {name: [seconds per token per repeat]}, `mle` first; with `reference`, also the plain HF step
    (`hf_labels_loss`) and the breakdown entries `layout_seconds/<preset>` (the `make_layout` call alone).
    """
    cases = {name: equal_shape_case(settings, name, batch_size, length, device) for name in presets}
    if reference:
        cases[SAME_ROWS] = make_case(settings, FULL, batch_size, length, device, policy_rows=batch_size, name=SAME_ROWS)
    steps = {name: (lambda c=case: train_step(model, optimizer, c, {})) for name, case in cases.items()}
    tokens = {name: case.tokens for name, case in cases.items()}
    if reference:
        steps["hf_labels_loss"] = lambda: hf_labels_step(model, optimizer, cases[BASELINE])
        tokens["hf_labels_loss"] = cases[BASELINE].tokens
    dtype = model_dtype(model)
    per_token: dict[str, list[float]] = {name: [] for name in steps}
    layout_seconds: dict[str, list[float]] = {name: [] for name in cases}
    for round_index in range(settings.warmup + repeats):
        for name, step in steps.items():
            seconds, _ = timed(step, device)
            if round_index >= settings.warmup:
                per_token[name].append(seconds / tokens[name])
        if reference and round_index >= settings.warmup:
            for name, case in cases.items():
                seconds, _ = timed(
                    lambda c=case: make_layout(c.batch, bksp_id=c.bksp_id, eos_id=EOS_ID, pad_id=PAD_ID, dtype=dtype),
                    device,
                )
                layout_seconds[name].append(seconds / case.tokens)
    if reference:
        per_token.update({f"layout_seconds/{name}": values for name, values in layout_seconds.items()})
    return per_token


def ratios_against_mle(per_token: dict[str, list[float]], names) -> dict[str, list[float]]:
    """Per-repeat ratios (each repeat's preset step over the same repeat's `mle` step)."""
    base = per_token[BASELINE]
    return {name: [value / b for value, b in zip(per_token[name], base)] for name in names}


def bench_train_steps(settings: BenchSettings, device: torch.device, log=print) -> tuple[dict, dict]:
    """Ratio 1 at the main cell (with breakdown) and over the scaling grid; returns (ratios, measurements)."""
    from imitlm.benchmarking.common import make_model

    model = make_model(settings, device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ratios, measurements = {}, {}
    B, T = settings.train_batch, settings.train_length
    log(f"[bench] train step: {len(BASELINE_FIRST)} presets, batch {B} x length {T}, {settings.repeats} repeats")
    main = measure_cell(model, optimizer, settings, B, T, device, settings.repeats, reference=True)
    for name, values in ratios_against_mle(main, BASELINE_FIRST[1:] + (SAME_ROWS,)).items():
        ratios[f"train_step_ratio/{name}"] = summary(values, GOALS.get(name))
    ratios["train_step_ratio/mle_over_hf_labels_loss"] = summary(
        [m / h for m, h in zip(main[BASELINE], main["hf_labels_loss"])]
    )
    for name in BASELINE_FIRST + (SAME_ROWS,):
        measurements[f"train_step/us_per_token/{name}"] = summary([1e6 * v for v in main[name]])
        share = [lay / step for lay, step in zip(main[f"layout_seconds/{name}"], main[name])]
        measurements[f"train_step/layout_share/{name}"] = summary(share)
    measurements["train_step/us_per_token/hf_labels_loss"] = summary([1e6 * v for v in main["hf_labels_loss"]])
    for b, t in settings.train_grid:
        cell = f"B{b}_T{t}"
        if (b, t) == (B, T):
            per_token = main
        else:
            log(f"[bench] train step scaling: batch {b} x length {t}, {settings.grid_repeats} repeats")
            per_token = measure_cell(model, optimizer, settings, b, t, device, settings.grid_repeats)
        for name, values in ratios_against_mle(per_token, BASELINE_FIRST[1:]).items():
            ratios[f"scaling/train_step_ratio/{name}/{cell}"] = summary(values)
        measurements[f"scaling/train_step_us_per_token/{BASELINE}/{cell}"] = summary(
            [1e6 * v for v in per_token[BASELINE]]
        )
    return ratios, measurements
