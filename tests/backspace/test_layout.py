"""The one-pass `<bksp>` layout against explicit stacks and fresh forwards over each state."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imitlm.backspace.apply import apply_backspaces
from imitlm.backspace.layout import IGNORE_INDEX, bksp_illegal_states, build_inputs, make_layout

from reference.backspace_ref import (
    ATTN_IMPLEMENTATIONS,
    BKSP,
    EOS,
    MODEL_KINDS,
    ORDINARY,
    PAD,
    apply_backspaces_batch,
    layout_ref,
    prompt_boundary_ref,
    state_logits_ref,
    states_ref,
    tiny_model,
)


@st.composite
def episodes(draw, max_prompt=4, max_actions=12):
    """A valid (prompt, actions): `<bksp>` only while the completion is non-empty; maybe EOS last."""
    prompt = draw(st.lists(st.sampled_from(ORDINARY), min_size=1, max_size=max_prompt))
    n = draw(st.integers(0, max_actions))
    actions, comp = [], 0
    for _ in range(n):
        if comp > 0 and draw(st.booleans()):
            actions.append(BKSP)
            comp -= 1
        else:
            actions.append(draw(st.sampled_from(ORDINARY)))
            comp += 1
    if draw(st.booleans()):
        actions.append(EOS)
    return prompt, actions


def pad_batch(eps, extra=2):
    T = max(len(p) + len(a) for p, a in eps) + extra
    seq = torch.full((len(eps), T), PAD, dtype=torch.long)
    for b, (p, a) in enumerate(eps):
        seq[b, : len(p) + len(a)] = torch.tensor(p + a)
    prompt_lengths = torch.tensor([len(p) for p, _ in eps])
    lengths = torch.tensor([len(p) + len(a) for p, a in eps])
    return seq, prompt_lengths, lengths


def test_worked_example():
    # prompt P, actions a X <bksp> c EOS (docs/design.md, "The MDP over sequences"):
    # states P, Pa, PaX, Pa, Pac, terminal
    P, a, X, c = 5, 6, 7, 8
    seq = torch.tensor([[P, a, X, BKSP, c, EOS, PAD]])
    lay = build_inputs(seq, torch.tensor([1]), torch.tensor([6]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    assert lay.input_ids.tolist() == [[P, a, X, a, c, EOS, PAD]]
    assert lay.position_ids.tolist() == [[0, 1, 2, 1, 2, 3, 0]]
    allowed = (lay.attention_mask[0, 0] == 0).int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0],
        [1, 0, 0, 1, 1, 0, 0],
        [1, 0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],  # pad: itself only
    ]
    assert lay.targets.tolist() == [[a, X, BKSP, c, EOS, IGNORE_INDEX, IGNORE_INDEX]]
    assert lay.done.tolist() == [[False, False, False, False, True, False, False]]
    assert lay.next_index.tolist() == [[1, 2, 3, 4, 5, 0, 0]]
    assert lay.bksp_illegal.tolist() == [[True, False, False, False, False, False, False]]  # state P only
    assert lay.attention_mask.dtype == torch.float32
    assert lay.attention_mask.min() == torch.finfo(torch.float32).min
    assert set(lay.model_inputs()) == {"input_ids", "position_ids", "attention_mask"}


def test_noise_mask_removes_noise_targets_only():
    # prompt P, actions n <bksp> a EOS with n a noise token: the output predicting n is not a target
    seq = torch.tensor([[5, 9, BKSP, 6, EOS]])
    noise = torch.tensor([[False, True, False, False, False]])
    lay = build_inputs(
        seq, torch.tensor([1]), torch.tensor([5]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD, noise_mask=noise
    )
    assert lay.target_mask.tolist() == [[False, True, True, True, False]]
    assert lay.targets[0, :4].tolist() == [9, BKSP, 6, EOS]


def test_truncated_sequence_bootstraps_on_last_position():
    seq = torch.tensor([[5, 6, 7, PAD]])
    lay = build_inputs(seq, torch.tensor([1]), torch.tensor([3]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    assert lay.next_index.tolist() == [[1, 2, 0, 0]]  # last action 7 at target index 1 -> next state at 2
    assert not lay.done.any()


def test_bksp_deleting_prompt_is_rejected():
    seq = torch.tensor([[5, 6, 7, PAD], [5, 6, BKSP, PAD]])
    with pytest.raises(ValueError, match=r"row 1: <bksp> at position 2"):
        build_inputs(seq, torch.tensor([1, 2]), torch.tensor([3, 3]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    with pytest.raises(ValueError, match="inside the prompt"):
        build_inputs(seq, torch.tensor([1, 3]), torch.tensor([3, 3]), bksp_id=BKSP, eos_id=EOS, pad_id=PAD)


@settings(max_examples=60, deadline=None)
@given(st.lists(episodes(), min_size=1, max_size=4))
def test_layout_matches_stack_reference(eps):
    seq, prompt_lengths, lengths = pad_batch(eps)
    lay = build_inputs(seq, prompt_lengths, lengths, bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    for b, (p, a) in enumerate(eps):
        ids, pos, stacks = layout_ref(p, a, BKSP)
        L = len(ids)
        assert lay.input_ids[b, :L].tolist() == ids
        assert lay.position_ids[b, :L].tolist() == pos
        for t in range(L):
            assert (lay.attention_mask[b, 0, t] == 0).nonzero()[:, 0].tolist() == sorted(stacks[t])
        targets = [IGNORE_INDEX] * seq.shape[1]
        targets[len(p) - 1 : L - 1] = a
        assert lay.targets[b].tolist() == targets
        assert lay.target_mask[b].tolist() == [t != IGNORE_INDEX for t in targets]


@settings(max_examples=60, deadline=None)
@given(st.lists(episodes(), min_size=1, max_size=4))
def test_bksp_illegal_matches_list_reference(eps):
    """Fast vs slow: the positions whose state is the prompt, in both layouts and the standalone helper."""
    seq, prompt_lengths, lengths = pad_batch(eps)
    expected = torch.zeros_like(seq, dtype=torch.bool)
    for b, (p, a) in enumerate(eps):
        boundary = prompt_boundary_ref(p, a, BKSP)
        expected[b, : len(boundary)] = torch.tensor(boundary)
    lay = build_inputs(seq, prompt_lengths, lengths, bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    assert torch.equal(lay.bksp_illegal, expected)
    assert torch.equal(bksp_illegal_states(seq, prompt_lengths, lengths, bksp_id=BKSP), expected)
    batch = {"input_ids": seq, "prompt_lengths": prompt_lengths, "lengths": lengths}
    layout = make_layout(batch, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, dtype=torch.float32)  # plain if no <bksp>
    assert torch.equal(layout.bksp_illegal, expected)


def test_bksp_illegal_worked_example():
    # prompt P Q, actions a <bksp> b X <bksp> <bksp> EOS: states P, PQ, PQa, PQ, PQb, PQbX, PQb, PQ, PQ+EOS, pad
    seq = torch.tensor([[5, 6, 2, BKSP, 3, 4, BKSP, BKSP, EOS, PAD]])
    got = bksp_illegal_states(seq, torch.tensor([2]), torch.tensor([9]), bksp_id=BKSP)
    assert got.int().tolist() == [[0, 1, 0, 1, 0, 0, 0, 1, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(st.lists(episodes(), min_size=1, max_size=4))
def test_apply_backspaces_batch_matches_list_reference(eps):
    acts = [a for _, a in eps]
    T = max(len(a) for a in acts) + 1
    batch = torch.full((len(acts), T), PAD, dtype=torch.long)
    for b, a in enumerate(acts):
        batch[b, : len(a)] = torch.tensor(a, dtype=torch.long)
    out, new_lengths = apply_backspaces_batch(batch, torch.tensor([len(a) for a in acts]), bksp_id=BKSP, pad_id=PAD)
    for b, a in enumerate(acts):
        ref = apply_backspaces(a, BKSP)
        assert new_lengths[b] == len(ref)
        assert out[b].tolist() == ref + [PAD] * (T - len(ref))


def test_apply_backspaces_rejects_deleting_from_empty():
    with pytest.raises(ValueError):
        apply_backspaces([5, BKSP, BKSP], BKSP)
    with pytest.raises(ValueError, match="row 0"):
        apply_backspaces_batch(torch.tensor([[BKSP]]), torch.tensor([1]), bksp_id=BKSP, pad_id=PAD)


@pytest.mark.parametrize("attn", ATTN_IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_one_forward_equals_fresh_forward_per_state(kind, attn):
    model = tiny_model(kind, attn)

    @settings(max_examples=4, deadline=None)
    @given(st.lists(episodes(), min_size=1, max_size=3))
    def check(eps):
        seq, prompt_lengths, lengths = pad_batch(eps)
        lay = build_inputs(seq, prompt_lengths, lengths, bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
        with torch.no_grad():
            logits = model(**lay.model_inputs()).logits  # (B, T, V)
        assert torch.isfinite(logits).all()  # pads included: no NaN
        for b, (p, a) in enumerate(eps):
            for t, state in enumerate(states_ref(p, a, BKSP)):
                torch.testing.assert_close(logits[b, t], state_logits_ref(model, state), atol=1e-5, rtol=1e-5)

    check()
