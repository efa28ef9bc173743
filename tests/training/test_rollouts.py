import torch

from imitlm.rollout.buffer import ReplayBuffer, rollout_prompts


def test_prompts_and_plain_text_prefixes():
    rows = [
        {"prompt_ids": [0, 5, 6], "completion_ids": [7, 1]},  # prompt/completion row: its prompt
        {"prompt_ids": [0], "completion_ids": [8, 9, 10, 11, 1]},
    ]  # plain text: BOS + a prefix of the text
    prompts = rollout_prompts(rows, 50, torch.Generator().manual_seed(0))
    assert [0, 5, 6] in prompts
    prefixes = [p for p in prompts if p[:2] == [0, 8]]
    assert prefixes and all(p == [0, 8, 9, 10][: len(p)] and 2 <= len(p) <= 4 for p in prefixes)
    assert len({len(p) for p in prefixes}) > 1  # random prefix lengths
    assert rollout_prompts(rows, 50, torch.Generator().manual_seed(0)) == prompts  # seeded


def test_replay_buffer_is_fifo_and_round_trips():
    buffer = ReplayBuffer(capacity=3)
    buffer.add([([0], [i]) for i in range(5)])
    assert [a for _, a in buffer.items] == [[2], [3], [4]]
    copy = ReplayBuffer(capacity=1)
    copy.load_state_dict(buffer.state_dict())
    assert copy.items == buffer.items and copy.capacity == 3
    batch = buffer.sample_batch(4, torch.Generator().manual_seed(0), pad_id=9)
    assert batch["is_policy"].all() and batch["input_ids"].shape == (4, 2)
