"""Noise augmentation: augment then apply backspaces gives back the data; noise is flagged."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imitlm.backspace.apply import apply_backspaces
from imitlm.backspace.augment import augment_with_noise
from imitlm.backspace.layout import build_inputs

from reference.backspace_ref import BKSP, EOS, ORDINARY, PAD


@settings(max_examples=80, deadline=None)
@given(
    completion=st.lists(st.sampled_from(ORDINARY), max_size=15),
    with_eos=st.booleans(),
    noise_prob=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_augment_then_apply_backspaces_is_identity(completion, with_eos, noise_prob, seed):
    completion = completion + ([EOS] if with_eos else [])
    g = torch.Generator().manual_seed(seed)
    actions, flags = augment_with_noise(completion, noise_prob, BKSP, g, noise_token_ids=ORDINARY, eos_id=EOS)
    assert apply_backspaces(actions, BKSP) == completion
    assert len(flags) == len(actions)
    for i, f in enumerate(flags):
        if f:  # a noise token, immediately deleted, never the true token
            assert actions[i + 1] == BKSP and actions[i] != actions[i + 2]
    assert sum(flags) == actions.count(BKSP)
    if noise_prob == 0.0:
        assert actions == completion
    if noise_prob == 1.0:
        assert sum(flags) == len(completion)
    if with_eos:
        assert actions[-1] == EOS  # nothing after EOS


def test_nothing_kept_after_eos():
    g = torch.Generator().manual_seed(0)
    actions, _ = augment_with_noise([5, EOS, 6], 1.0, BKSP, g, noise_token_ids=ORDINARY, eos_id=EOS)
    assert apply_backspaces(actions, BKSP) == [5, EOS]


def test_task_sampler_hook_and_layout_targets():
    # a "ground-truth" sampler: always the next id (a plausible wrong digit)
    seen = []

    def wrong_digit(prefix, true_token, generator):
        seen.append((list(prefix), true_token))
        return 2 + (true_token - 1) % 17

    g = torch.Generator().manual_seed(0)
    actions, flags = augment_with_noise([5, 6], 1.0, BKSP, g, sampler=wrong_digit)
    assert actions == [6, BKSP, 5, 7, BKSP, 6]
    assert seen == [([], 5), ([5], 6)]
    # in the layout the noise tokens are not targets, the <bksp> after them are
    prompt = [3]
    seq = torch.tensor([prompt + actions])
    noise = torch.tensor([[False] + flags])
    lay = build_inputs(
        seq, torch.tensor([1]), torch.tensor([7]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD, noise_mask=noise
    )
    assert lay.target_mask[0].tolist() == [False, True, True, False, True, True, False]


def test_bad_sampler_is_rejected():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="noise sampler"):
        augment_with_noise([5], 1.0, BKSP, g, sampler=lambda prefix, tok, gen: tok)
    with pytest.raises(ValueError):
        augment_with_noise([5], 0.5, BKSP, g)
