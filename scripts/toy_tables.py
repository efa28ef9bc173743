"""The toy-chain tables of docs/objectives.md, measured to convergence (exact occupancies, no sampling).

Each fit runs Adam (lr 0.1) for the largest step count and reads its metrics at every checkpoint on the way; from
step 4,000 the learning rate is divided by 10 every 1,000 steps, which removes Adam's steady-state noise (at a
constant lr the smallest numbers wander at the 1e-4 - 1e-3 level). The tables show how far the numbers still move
between the last two checkpoints (converged: they do not).

    PYTHONPATH=src python scripts/toy_tables.py --steps 400 4000 7000 8000 --out docs/results/toy_tables.json
"""

from __future__ import annotations

import argparse
import json
from multiprocessing import Pool

import torch

from imitlm.demo.toy_chain import (
    ToyChain,
    conditional_tv,
    exact_loss,
    occupancy,
    occupancy_tv,
    out_of_distribution_rate,
    policy_of,
)
from imitlm.objectives import ObjectiveSpec, get_preset

SEQUENCEMATCH_C = [0.0025, 0.01, 0.1, 0.5, 1.0, 25.0]
BETAS = [0.1, 0.5]
DIVERGENCES = ["chi2", "kl", "forward_kl", "js", "hellinger", "tv"]


def settings() -> list[tuple[str, dict]]:
    """(name, ObjectiveSpec fields) of every fit of both tables."""
    sm = get_preset("sequencematch")
    mixture = {"gamma": sm.gamma, "mix_beta": sm.mix_beta, "use_mixture": True}
    out = [
        ("mle", {"use_il": False}),
        ("sequencematch preset: eta 0.001, c 25, beta 0.5", mixture | {"il_weight": sm.il_weight, "td_weight": 25.0}),
        ("alpha as tau: eta 0.91, c 0.0025, beta 0.5", mixture | {"il_weight": 0.91, "td_weight": 0.0025}),
    ]
    for c in SEQUENCEMATCH_C:
        for beta in BETAS:
            fields = mixture | {"il_weight": 0.999, "td_weight": c, "mix_beta": beta}
            out.append((f"eta 0.999, c {c:g}, beta {beta:g}", fields))
    for divergence in DIVERGENCES:
        out.append((f"{divergence} offline", {"divergence": divergence}))
        out.append((f"{divergence} mixture", {"divergence": divergence, "mix_beta": 0.5, "use_mixture": True}))
    return out


def fit(job: tuple[str, dict, list[int], float]) -> dict:
    """Adam on the exact objective (the policy occupancy recomputed, detached, each step, as in
    `demo.toy_chain.fit_tabular_q`), metrics at each checkpoint."""
    name, fields, checkpoints, lr, decay_from, decay_every = job
    torch.set_num_threads(1)
    chain = ToyChain()
    spec = ObjectiveSpec(**fields)
    g = torch.Generator().manual_seed(0)
    q_table = (
        0.01 * torch.randn(chain.num_states, chain.num_actions, generator=g, dtype=torch.float64)
    ).requires_grad_()
    adam = torch.optim.Adam([q_table], lr=lr)
    rows = {}
    for step in range(1, max(checkpoints) + 1):
        policy_weight = None
        if spec.use_mixture:
            with torch.no_grad():
                policy_weight = occupancy(chain, policy_of(chain, q_table, spec.tau))
        adam.zero_grad()
        loss, _ = exact_loss(chain, q_table, spec, policy_weight)
        loss.backward()
        adam.step()
        if decay_from and step >= decay_from and (step - decay_from) % decay_every == 0:
            for group in adam.param_groups:  # Adam's steady-state noise at a constant lr, taken out step by step
                group["lr"] *= 0.1
        if step in checkpoints:
            with torch.no_grad():
                policy = policy_of(chain, q_table, spec.tau)
                rows[step] = {
                    "ood_rate": float(out_of_distribution_rate(chain, policy)),
                    "occupancy_tv": float(occupancy_tv(chain, policy)),
                    "conditional_tv": float(conditional_tv(chain, policy)),
                }
    schedule = {"lr": lr, "decay_from": decay_from, "decay_every": decay_every}
    return {"name": name, "spec": fields, "schedule": schedule, "by_steps": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="+", default=[400, 1000, 4000, 8000])
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--decay_from", type=int, default=4000, help="Step from which lr is divided by 10 ...")
    parser.add_argument("--decay_every", type=int, default=1000, help="... every this many steps (0: constant lr).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="docs/results/toy_tables.json")
    args = parser.parse_args()
    jobs = [
        (name, fields, sorted(args.steps), args.lr, args.decay_from, args.decay_every) for name, fields in settings()
    ]
    with Pool(args.workers) as pool:
        results = pool.map(fit, jobs, chunksize=1)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=1)
    last, before = sorted(args.steps)[-1], sorted(args.steps)[-2]
    for result in results:
        a, b = result["by_steps"][before], result["by_steps"][last]
        print(
            f"{result['name']}: OOD {b['ood_rate']:.2e} occTV {b['occupancy_tv']:.2e} condTV {b['conditional_tv']:.2e}"
            f" (at {before}: {a['ood_rate']:.2e} / {a['occupancy_tv']:.2e} / {a['conditional_tv']:.2e})"
        )


if __name__ == "__main__":
    main()
