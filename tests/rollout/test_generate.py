"""Batched cached generation with <bksp> against a cache-free reference and the training layout."""

import pytest
import torch

from imitlm.backspace.apply import apply_backspaces
from imitlm.backspace.layout import build_inputs, make_layout
from imitlm.data.batches import pad_batch
from imitlm.objectives import mask_illegal_bksp
from imitlm.rollout.generate import generate_with_backspace

from reference.backspace_ref import ATTN_IMPLEMENTATIONS, BKSP, EOS, MODEL_KINDS, PAD, prompt_boundary_ref, tiny_model
from reference.generation_ref import generate_ref

PROMPTS = [[3, 4, 5], [6], [7, 8, 9, 10, 11], [12, 13]]


def biased_head(model, bias):
    """Give the LM head a bias (untied model), e.g. to make <bksp> likely or EOS impossible."""
    head = model.get_output_embeddings()
    new = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        new.weight.copy_(head.weight)
        new.bias.copy_(bias)
    model.set_output_embeddings(new)
    return model


@pytest.mark.parametrize("attn", ATTN_IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_greedy_with_forced_actions_matches_reference(kind, attn):
    model = tiny_model(kind, attn, seed=1)
    g = torch.Generator().manual_seed(0)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=14,
        force_prob=0.5,
        force_token_ids=[BKSP, BKSP, BKSP, 2, 3, EOS],
        generator=g,
        return_logits=True,
    )
    n_bksp_rows = 0
    for b, prompt in enumerate(PROMPTS):
        trace = list(zip(res.forced[b], res.actions[b]))
        ref_actions, ref_logits, ref_finished = generate_ref(
            model, prompt, bksp_id=BKSP, eos_id=EOS, max_new_actions=14, forced_trace=trace
        )
        assert res.actions[b] == ref_actions
        assert res.finished[b] == ref_finished
        torch.testing.assert_close(res.logits[b], ref_logits, atol=1e-5, rtol=1e-5)
        body = ref_actions[:-1] if ref_finished else ref_actions
        assert res.final_ids[b] == apply_backspaces(body, BKSP)
        n_bksp_rows += BKSP in res.actions[b]
    assert n_bksp_rows >= 2  # rows delete independently


def test_rescoring_with_build_inputs_reproduces_sampling_logits():
    model = tiny_model("llama", "sdpa", seed=2)
    bias = torch.zeros(model.config.vocab_size)
    bias[BKSP] = 1.5  # <bksp> common
    biased_head(model, bias)
    g = torch.Generator().manual_seed(0)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=16,
        do_sample=True,
        temperature=1.3,
        top_k=10,
        top_p=0.95,
        generator=g,
        return_logits=True,
    )
    assert sum(a.count(BKSP) for a in res.actions) >= 4
    rows = [p + a for p, a in zip(PROMPTS, res.actions)]
    T = max(map(len, rows))
    seq = torch.full((len(rows), T), PAD, dtype=torch.long)
    for b, r in enumerate(rows):
        seq[b, : len(r)] = torch.tensor(r)
    prompt_lengths = torch.tensor([len(p) for p in PROMPTS])
    lay = build_inputs(seq, prompt_lengths, torch.tensor(list(map(len, rows))), bksp_id=BKSP, eos_id=EOS, pad_id=PAD)
    with torch.no_grad():
        logits = model(**lay.model_inputs()).logits
    for b, p in enumerate(PROMPTS):
        n = len(res.actions[b])
        torch.testing.assert_close(logits[b, len(p) - 1 : len(p) - 1 + n], res.logits[b], atol=1e-5, rtol=1e-5)


def test_training_policy_at_the_prompt_is_the_sampling_policy():
    """The trainer's masked log pi (make_layout + mask_illegal_bksp) equals the sampler's log-softmax at every
    state, prompt-boundary states included (there the sampler sets the <bksp> logit to -inf)."""
    model = tiny_model("gpt2", "sdpa", seed=3)
    bias = torch.zeros(model.config.vocab_size)
    bias[BKSP] = 3.0  # <bksp> likely: rows often delete back to the prompt
    biased_head(model, bias)
    g = torch.Generator().manual_seed(1)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=16,
        do_sample=True,
        generator=g,
        return_logits=True,
    )
    batch = pad_batch([list(p) for p in PROMPTS], res.actions, PAD)
    layout = make_layout(batch, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, dtype=torch.float32)
    with torch.no_grad():
        logits = mask_illegal_bksp(model(**layout.model_inputs()).logits, layout.bksp_illegal, BKSP)
    trained = torch.log_softmax(logits, -1)  # (B, T, V)
    returns = 0
    for b, prompt in enumerate(PROMPTS):
        n, first = len(res.actions[b]), len(prompt) - 1
        boundary = torch.tensor(prompt_boundary_ref(prompt, res.actions[b], BKSP)[first : first + n])  # (n,)
        sampler = res.logits[b].clone()  # raw logits at each step; the sampler's rule: no <bksp> at the prompt
        sampler[boundary, BKSP] = float("-inf")
        torch.testing.assert_close(trained[b, first : first + n], torch.log_softmax(sampler, -1), atol=1e-5, rtol=1e-5)
        assert layout.bksp_illegal[b, first : first + n].tolist() == boundary.tolist()
        returns += int(boundary[1:].sum())
    assert returns >= 2  # states that came back to the prompt by <bksp>, not only the first one


def test_bksp_forced_high_never_deletes_prompt_and_stops_at_limit():
    model = tiny_model("qwen2", "sdpa")
    bias = torch.zeros(model.config.vocab_size)
    bias[BKSP] = 1e4
    biased_head(model, bias)
    res = generate_with_backspace(model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=9)
    for b in range(len(PROMPTS)):
        acts = res.actions[b]
        assert len(acts) == 9 and not res.finished[b]
        # token, <bksp>, token, <bksp>, ...: a <bksp> only when the completion is non-empty
        assert acts[1::2] == [BKSP] * 4 and BKSP not in acts[0::2]
        assert res.final_ids[b] == [acts[-1]]


def test_no_eos_stops_at_limits():
    model = tiny_model("gpt2", "eager")
    model.config.tie_word_embeddings = False
    bias = torch.zeros(model.config.vocab_size)
    bias[EOS] = -1e9
    biased_head(model, bias)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=12,
        do_sample=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert all(len(a) == 12 and EOS not in a for a in res.actions) and not any(res.finished)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=30,
        max_state_length=3,
        allow_backspace=False,
    )
    assert all(len(f) == 3 and len(a) == 3 for f, a in zip(res.final_ids, res.actions))
    assert not any(res.finished)


def test_finished_rows_stop_and_allow_backspace_false():
    model = tiny_model("llama", "eager", seed=3)
    bias = torch.zeros(model.config.vocab_size)
    bias[EOS] = 3.0
    biased_head(model, bias)
    res = generate_with_backspace(
        model,
        PROMPTS,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_actions=20,
        do_sample=True,
        generator=torch.Generator().manual_seed(1),
        allow_backspace=False,
    )
    for a, fin in zip(res.actions, res.finished):
        assert BKSP not in a
        if fin:
            assert a[-1] == EOS and a.count(EOS) == 1
    assert any(res.finished)


def appended_pairs(prompt, actions):
    """Slow replay of one row's actions: the (state, token) pair of every token appended (EOS ends the row)."""
    state, pairs = tuple(prompt), []
    for action in actions:
        if action == EOS:
            break
        if action == BKSP:
            state = state[:-1]
        else:
            pairs.append((state, action))
            state = state + (action,)
    return pairs


def test_block_undo_breaks_the_greedy_delete_loop():
    """A model that always wants <bksp> after a token: greedy decoding repeats x <bksp> x <bksp> ...; with
    block_undo it still deletes whenever it can, but never types a token twice in one state, so it walks through
    the vocabulary instead of alternating between two tokens (which masking only the token just deleted allowed)."""
    model = tiny_model("gpt2", "sdpa")
    model.config.tie_word_embeddings = False
    bias = torch.zeros(model.config.vocab_size)
    bias[BKSP] = 1e4
    biased_head(model, bias)
    plain = generate_with_backspace(model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=9)
    assert any(acts[0] == acts[2] == acts[4] for acts in plain.actions)  # the loop happens without the rule
    blocked = generate_with_backspace(
        model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=11, block_undo=True
    )
    for prompt, acts in zip(PROMPTS, blocked.actions):
        assert acts[1::2] == [BKSP] * 5
        pairs = appended_pairs(prompt, acts)
        assert len(pairs) == 6 and len(set(pairs)) == 6  # six different tokens typed at the prompt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_undo_never_repeats_an_action_in_a_state(seed):
    """Random models with <bksp> likely, so that traces delete in chains and come back to earlier states: greedy
    decoding with block_undo never appends one token twice in the same state (slow replay of every trace)."""
    model = tiny_model("llama", "sdpa", seed=seed)
    model.config.tie_word_embeddings = False
    bias = torch.zeros(model.config.vocab_size)
    bias[BKSP], bias[EOS] = 2.5, -1e4
    biased_head(model, bias)
    blocked = generate_with_backspace(
        model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=30, block_undo=True
    )
    deletions = 0
    for prompt, acts in zip(PROMPTS, blocked.actions):
        pairs = appended_pairs(prompt, acts)
        assert len(set(pairs)) == len(pairs)
        deletions += acts.count(BKSP)
    assert deletions >= 10  # the traces do delete, so the check is not vacuous


def test_block_undo_keeps_the_bans_of_each_state_on_the_current_path():
    """The processor on a hand-written trace of one row (prompt length 3): bans gather per state, survive a
    deeper excursion, and are dropped when a new token changes the prefix of the state they belong to."""
    from types import SimpleNamespace

    from imitlm.rollout.processors import BlockUndo

    x, y, z, w = 5, 6, 7, 8
    trace = [  # (state length, token just deleted, tokens that must be masked)
        (3, -1, set()),
        (4, -1, set()),  # typed x
        (3, x, {x}),  # deleted x
        (4, -1, set()),  # typed y
        (5, -1, set()),  # typed z
        (4, z, {z}),  # deleted z
        (3, y, {x, y}),  # deleted y: both of the prompt state's deletions are masked
        (4, -1, set()),  # typed w: the ban on z belonged to the prefix with y
        (3, w, {x, y, w}),
    ]
    rule = BlockUndo()
    for depth, deleted, banned in trace:
        state = SimpleNamespace(depth=torch.tensor([depth]), just_deleted=torch.tensor([deleted]))
        scores = rule(state, torch.zeros(1, 10))
        assert set(torch.isinf(scores[0]).nonzero()[:, 0].tolist()) == banned


def test_synced_ranks_make_the_same_number_of_forwards():
    """Sharded models need every rank to call forward equally often: with synced_ranks generation runs all
    max_new_actions steps even when every row has finished, and the results are unchanged."""
    model = tiny_model("gpt2", "sdpa")
    model.config.tie_word_embeddings = False
    bias = torch.zeros(model.config.vocab_size)
    bias[EOS] = 1e4  # every row ends at once
    biased_head(model, bias)
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    plain = generate_with_backspace(model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=7)
    plain_calls = len(calls)
    calls.clear()
    synced = generate_with_backspace(
        model, PROMPTS, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, max_new_actions=7, synced_ranks=True
    )
    assert plain_calls == 1 and len(calls) == 7  # prefill only, versus prefill + 6 more steps
    assert synced.actions == plain.actions and synced.finished == plain.finished == [True] * len(PROMPTS)
