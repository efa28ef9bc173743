"""Ratio 2: tokens/s of `generate_with_backspace` over Hugging Face `model.generate`, same prompts and lengths.

Both sample (temperature 1, no top-k/top-p) exactly N new tokens per prompt: Hugging Face with
`min_new_tokens = max_new_tokens = N`, ours with no EOS id (`eos_id=-1`, so no row stops early, which
is what `min_new_tokens` does). `<bksp>` is allowed and rare: the untrained model's distribution is
near uniform over 512 ids, so about 1 action in 500 is a `<bksp>` (the measured rate is reported), and
the deletion branch of the sampler does run.
"""

from __future__ import annotations

import torch

from imitlm.benchmarking.common import EOS_ID, FIRST_ORDINARY, PAD_ID, BenchSettings, make_model, summary, timed
from imitlm.rollout.generate import generate_with_backspace

GOAL = ">= 1.0"


def measure_cell(
    model, settings: BenchSettings, batch_size: int, new_tokens: int, device: torch.device, repeats: int
) -> dict[str, list[float]]:
    """Interleaved runs; {'ours': tokens/s, 'hf': tokens/s, 'bksp_rate': share of `<bksp>` actions} per repeat."""
    generator = torch.Generator().manual_seed(settings.seed + batch_size + new_tokens)
    prompts = torch.randint(FIRST_ORDINARY, settings.bksp_id, (batch_size, settings.prompt_length), generator=generator)
    prompt_lists = prompts.tolist()
    prompts_on_device = prompts.to(device)
    bksp = settings.bksp_id

    def ours():
        sampling = torch.Generator(device=device).manual_seed(settings.seed)
        result = generate_with_backspace(
            model,
            prompt_lists,
            bksp_id=bksp,
            eos_id=-1,
            pad_id=PAD_ID,
            max_new_actions=new_tokens,
            do_sample=True,
            allow_backspace=True,
            generator=sampling,
        )
        return sum(len(a) for a in result.actions), sum(a.count(bksp) for a in result.actions)

    def hf():
        out = model.generate(
            input_ids=prompts_on_device,
            attention_mask=torch.ones_like(prompts_on_device),
            do_sample=True,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            pad_token_id=PAD_ID,
            eos_token_id=EOS_ID,
        )
        return (out.shape[1] - prompts_on_device.shape[1]) * batch_size

    runs = {"ours": [], "hf": [], "bksp_rate": []}
    for round_index in range(settings.warmup + repeats):
        seconds_ours, (n_ours, n_bksp) = timed(ours, device)
        seconds_hf, n_hf = timed(hf, device)
        if round_index >= settings.warmup:
            runs["ours"].append(n_ours / seconds_ours)
            runs["hf"].append(n_hf / seconds_hf)
            runs["bksp_rate"].append(n_bksp / max(n_ours, 1))
    return runs


def bench_generation(settings: BenchSettings, device: torch.device, log=print) -> tuple[dict, dict]:
    """Ratio 2 at the main cell and over the scaling grid; returns (ratios, measurements)."""
    model = make_model(settings, device).eval()
    model.generation_config.pad_token_id = PAD_ID
    model.generation_config.eos_token_id = EOS_ID
    ratios, measurements = {}, {}
    main_cell = (settings.gen_batch, settings.gen_new_tokens)
    cells = [main_cell] + [c for c in settings.gen_grid if c != main_cell]
    for b, n in cells:
        repeats = settings.repeats if (b, n) == main_cell else settings.grid_repeats
        log(f"[bench] generation: batch {b} x {n} new tokens, {repeats} repeats")
        runs = measure_cell(model, settings, b, n, device, repeats)
        per_repeat = [o / h for o, h in zip(runs["ours"], runs["hf"])]
        cell = f"B{b}_N{n}"
        if (b, n) == main_cell:
            ratios["generation_throughput_ratio"] = summary(per_repeat, GOAL)
            measurements["generation/tokens_per_s/ours"] = summary(runs["ours"])
            measurements["generation/tokens_per_s/hf_generate"] = summary(runs["hf"])
            measurements["generation/backspace_rate"] = summary(runs["bksp_rate"])
        if (b, n) in settings.gen_grid:
            ratios[f"scaling/generation_throughput_ratio/{cell}"] = summary(per_repeat)
            measurements[f"scaling/generation_tokens_per_s/hf_generate/{cell}"] = summary(runs["hf"])
    return ratios, measurements
