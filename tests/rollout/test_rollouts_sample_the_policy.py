"""Training rollouts sample the policy as it is: no decoding rule of evaluation (BlockUndo) may change it."""

import torch

from imitlm.rollout.buffer import collect_rollouts

from reference.token_table_lm import TokenTableLM

PAD, EOS, PROMPT, X, BKSP = 0, 1, 2, 3, 4
V = 5


def test_rollouts_may_repeat_a_deleted_token():
    """A policy that almost surely writes x after the prompt and deletes it after x: its samples read x <bksp> x
    <bksp> ... . BlockUndo (greedy evaluation's rule against x <bksp> x loops) would forbid the second x, sampling
    from another policy than the one being trained."""
    table = torch.full((V, V), -30.0)
    table[PROMPT, X] = 30.0  # after the prompt (and after a <bksp> back to it): x
    table[X, BKSP] = 30.0  # after x: <bksp>
    model = TokenTableLM(table)
    rows, stats = collect_rollouts(
        model,
        [[PROMPT]] * 4,
        bksp_id=BKSP,
        eos_id=EOS,
        pad_id=PAD,
        max_new_tokens=6,
        temperature=1.0,
        tau=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    for _, actions in rows:
        assert actions == [X, BKSP] * 3
    assert stats["rollout/backspace_rate"] == 0.5
