"""Cost of the `<bksp>` machinery relative to plain MLE and Hugging Face generation; prints JSON.

    python benchmarks/backspace_ratios.py [--device cpu] [--batch 16 --length 128 ...]

(a) train_step_ratio: one training step (forward + backward + AdamW) with the backspace layout
    (noise-augmented data, ``build_inputs`` included in the timing, 4D mask) over a plain
    causal MLE step on the un-augmented data, same model, batch and length. Goal <= 1.05.
(b) generate_tokens_per_s_ratio: tokens/s of ``generate_with_backspace`` (sampling, `<bksp>`
    never sampled) over ``model.generate(do_sample=True, min_new_tokens=max_new_tokens)`` on
    the same prompts. Goal >= 1.0.

Both are measured side by side in one run, interleaved, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.backspace.augment import augment_with_noise
from imitlm.backspace.layout import build_inputs
from imitlm.rollout.generate import generate_with_backspace


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def make_model(args, device):
    torch.manual_seed(args.seed)
    cfg = GPT2Config(
        vocab_size=args.vocab, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head,
        n_positions=max(args.length, args.prompt_length + args.new_tokens) + 8,
        attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0, bos_token_id=1, eos_token_id=1, pad_token_id=0,
    )
    return GPT2LMHeadModel._from_config(cfg, attn_implementation=args.attn).to(device)


def bench_train(args, device):
    bksp, eos, pad = args.vocab - 1, 1, 0
    g = torch.Generator().manual_seed(args.seed)
    B, T, P = args.batch, args.length, args.prompt_length
    clean = torch.randint(2, bksp, (B, T), generator=g)
    clean[:, -1] = eos
    # augmented data of the same length T: augment the completion, keep the first T tokens
    noisy_rows, noise_rows = [], []
    for row in clean.tolist():
        acts, flags = augment_with_noise(row[P:], args.noise_prob, bksp, g, noise_token_ids=range(2, bksp), eos_id=eos)
        seq, nm = (row[:P] + acts)[:T], ([False] * P + flags)[:T]
        if nm[-1]:  # a noise token must not be the last action kept
            seq, nm = seq[:-1] + [row[P]], nm[:-1] + [False]
        noisy_rows.append(seq)
        noise_rows.append(nm)
    noisy = torch.tensor(noisy_rows)
    noise_mask = torch.tensor(noise_rows)
    prompt_lengths = torch.full((B,), P)
    lengths = torch.full((B,), T)

    clean_labels = torch.cat([clean[:, 1:], clean.new_full((B, 1), -100)], 1)
    clean_labels[:, : P - 1] = -100
    clean_labels = clean_labels.to(device)

    def ce(logits, labels):  # the same loss call for every variant: token mean over labels != -100
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)

    model = make_model(args, device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = next(model.parameters()).dtype

    def mle_step():
        ids = clean.to(device)
        logits = model(input_ids=ids).logits  # (B, T, V)
        loss = ce(logits, clean_labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # the layout is built where the data lives (a collator would build it in a worker)
    noisy_d, noise_mask_d = noisy.to(device), noise_mask.to(device)
    prompt_lengths_d, lengths_d = prompt_lengths.to(device), lengths.to(device)

    def layout():
        return build_inputs(noisy_d, prompt_lengths_d, lengths_d, bksp_id=bksp, eos_id=eos, pad_id=pad,
                            dtype=dtype, noise_mask=noise_mask_d)

    def bksp_step():
        lay = layout()
        logits = model(**lay.model_inputs()).logits  # (B, T, V)
        loss = ce(logits, lay.targets.masked_fill(~lay.target_mask, -100))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    layout_only = layout
    fixed = layout()
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    causal_mask = torch.zeros((B, 1, T, T), dtype=dtype, device=device).masked_fill_(~causal, torch.finfo(dtype).min)
    causal_pos = torch.arange(T, device=device)[None].expand(B, T)

    def mle_4d_step():  # breakdown: plain data with an explicit causal 4D mask
        ids = clean.to(device)
        logits = model(input_ids=ids, attention_mask=causal_mask, position_ids=causal_pos).logits
        loss = ce(logits, clean_labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def bksp_prebuilt_step():  # breakdown: the layout built once (as a collator would)
        logits = model(**fixed.model_inputs()).logits
        loss = ce(logits, fixed.targets.masked_fill(~fixed.target_mask, -100))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        mle_step(), bksp_step()
    fns = {"mle": mle_step, "bksp": bksp_step, "mle_4d_mask": mle_4d_step, "bksp_prebuilt": bksp_prebuilt_step}
    times = {k: [] for k in fns}
    t_layout = []
    for _ in range(args.repeats):
        for k, fn in fns.items():
            times[k].append(_timed(fn, device)[0])
        t_layout.append(_timed(layout_only, device)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    m = med["mle"]
    return {
        "mle_step_s": m,
        "bksp_step_s": med["bksp"],
        "build_inputs_s": statistics.median(t_layout),
        "train_step_ratio": med["bksp"] / m,
        "breakdown_ratio_mle_with_4d_causal_mask": med["mle_4d_mask"] / m,
        "breakdown_ratio_bksp_layout_prebuilt": med["bksp_prebuilt"] / m,
        "noise_tokens": int(noise_mask.sum()),
    }


def bench_generate(args, device):
    bksp, eos, pad = args.vocab - 1, 1, 0
    g = torch.Generator().manual_seed(args.seed + 1)
    prompts = torch.randint(2, bksp, (args.gen_batch, args.prompt_length), generator=g)
    model = make_model(args, device).eval()
    N = args.new_tokens

    def ours():
        gen = torch.Generator(device=device).manual_seed(args.seed)
        res = generate_with_backspace(
            model, prompts.tolist(), bksp_id=bksp, eos_id=eos, pad_id=pad, max_new_actions=N,
            do_sample=True, allow_backspace=False, generator=gen,
        )
        return sum(len(a) for a in res.actions)

    def hf():
        ids = prompts.to(device)
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=N,
            min_new_tokens=N, top_k=0, top_p=1.0, temperature=1.0, pad_token_id=pad, eos_token_id=eos,
        )
        return (out.shape[1] - ids.shape[1]) * ids.shape[0]

    for _ in range(args.warmup):
        ours(), hf()
    r_ours, r_hf = [], []
    for _ in range(args.repeats):
        t, n = _timed(ours, device)
        r_ours.append(n / t)
        t, n = _timed(hf, device)
        r_hf.append(n / t)
    o, h = statistics.median(r_ours), statistics.median(r_hf)
    return {"ours_tokens_per_s": o, "hf_generate_tokens_per_s": h, "generate_tokens_per_s_ratio": o / h}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--n-layer", dest="n_layer", type=int, default=4)
    p.add_argument("--n-embd", dest="n_embd", type=int, default=128)
    p.add_argument("--n-head", dest="n_head", type=int, default=4)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--prompt-length", dest="prompt_length", type=int, default=8)
    p.add_argument("--noise-prob", dest="noise_prob", type=float, default=0.1)
    p.add_argument("--gen-batch", dest="gen_batch", type=int, default=8)
    p.add_argument("--new-tokens", dest="new_tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--skip", choices=["train", "generate"], default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import transformers

    result = {
        "config": vars(args),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    }
    if args.skip != "train":
        result["train"] = bench_train(args, device)
    if args.skip != "generate":
        result["generate"] = bench_generate(args, device)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
