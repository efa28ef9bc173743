"""Noise augmentation in the collator: fresh every epoch, a function of (seed, epoch, example) only."""

from imitlm.training.collator import ImitationCollator, noise_seed

BKSP, PAD, EOS = 30, 0, 1
ROWS = [{"prompt_ids": [2], "completion_ids": list(range(3, 23)) + [EOS], "example_index": i} for i in range(4)]


def collate(epoch, seed=0, rows=ROWS):
    collator = ImitationCollator(
        pad_id=PAD, bksp_id=BKSP, noise_prob=0.3, noise_token_ids=list(range(3, 30)), seed=seed, eos_id=EOS
    )
    collator.epoch = epoch
    return collator(rows)


def test_noise_is_fresh_each_epoch_and_fixed_per_seed_epoch_example():
    epoch0, again, epoch1 = collate(0), collate(0), collate(1)
    assert epoch0["input_ids"].equal(again["input_ids"]) and epoch0["noise_mask"].equal(again["noise_mask"])
    for row in range(len(ROWS)):  # every example gets other noise in the next epoch
        assert not epoch0["input_ids"][row].equal(epoch1["input_ids"][row])
    # an example's noise does not depend on its batch-mates or its place in the batch
    alone = collate(1, rows=[ROWS[2]])
    assert alone["input_ids"][0].tolist() == epoch1["input_ids"][2, : int(alone["lengths"][0])].tolist()
    assert not collate(0, seed=1)["input_ids"].equal(epoch0["input_ids"])


def test_noise_seed_separates_the_triples():
    seeds = {noise_seed(s, e, i) for s in range(3) for e in range(3) for i in range(1000)}
    assert len(seeds) == 9000 and all(0 <= x < 2**63 for x in seeds)
