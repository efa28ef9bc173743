"""Noise augmentation: teach `<bksp>` from data by inserting "noise token, <bksp>" pairs (docs/design.md).

Data alone never shows a mistake. With probability ``noise_prob`` before each completion token
we insert a noise token followed by `<bksp>`; the noise token is not a training target (it is an
action of a perturbation, not of the expert), the `<bksp>` after it is. Imports torch only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# sampler(prefix_ids, true_token_id, generator) -> noise token id (must differ from the true token)
NoiseSampler = Callable[[Sequence[int], int, torch.Generator | None], int]


def uniform_noise_sampler(token_ids: Sequence[int]) -> NoiseSampler:
    """A sampler drawing uniformly from ``token_ids`` minus the true token.

    Example: ``uniform_noise_sampler([4, 5, 6])(prefix, 5, g)`` returns 4 or 6, each w.p. 1/2.
    """
    ids = torch.as_tensor(list(token_ids), dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError("uniform noise needs at least two candidate token ids")

    def sample(prefix_ids: Sequence[int], true_token_id: int, generator: torch.Generator | None) -> int:
        candidates = ids[ids != true_token_id]
        idx = torch.randint(len(candidates), (1,), generator=generator)
        return int(candidates[idx])

    return sample


def augment_with_noise(
    completion_ids: Sequence[int],
    noise_prob: float,
    bksp_id: int,
    generator: torch.Generator | None,
    sampler: NoiseSampler | None = None,
    *,
    noise_token_ids: Sequence[int] | None = None,
    eos_id: int | None = None,
) -> tuple[list[int], list[bool]]:
    """Insert ``noise, <bksp>`` before each completion token with probability ``noise_prob``.

    Args:
        completion_ids: the expert completion (may end with EOS).
        sampler: ``sampler(prefix_ids, true_token_id, generator) -> token_id``, a task's
            "ground-truth" noise (e.g. a wrong digit); the prefix is the completion so far.
            Default: uniform over ``noise_token_ids`` (required then), never the true token.
        eos_id: if given, nothing is inserted or kept after the first EOS.

    Returns ``(actions, noise_flags)``, flags True at the inserted noise tokens.

    Example (``bksp_id = 9``; noise drawn before the second token)::

        completion  [5, 6, 7]
        actions     [5, 3, 9, 6, 7]
        noise_flags [F, T, F, F, F]

    ``apply_backspaces(actions, bksp_id) == completion`` always holds.
    """
    # any probability here (tests force noise with 1); the --noise_prob option refuses 1 (`validation.RANGES`)
    if not 0.0 <= noise_prob <= 1.0:
        raise ValueError(f"noise_prob must be in [0, 1], got {noise_prob}")
    if sampler is None:
        if noise_token_ids is None:
            raise ValueError("give noise_token_ids for the default uniform sampler, or a sampler")
        sampler = uniform_noise_sampler(noise_token_ids)
    completion = list(completion_ids)
    if eos_id is not None and eos_id in completion:
        completion = completion[: completion.index(eos_id) + 1]
    coins = torch.rand(len(completion), generator=generator) < noise_prob  # one draw per position
    actions: list[int] = []
    flags: list[bool] = []
    for i, tok in enumerate(completion):
        if coins[i]:
            noise = int(sampler(completion[:i], tok, generator))
            if noise == tok or noise == bksp_id:
                raise ValueError(f"noise sampler returned {noise} for true token {tok}")
            actions += [noise, bksp_id]
            flags += [True, False]
        actions.append(tok)
        flags.append(False)
    return actions, flags
