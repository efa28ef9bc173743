"""`backspace_fixes` on hand-written traces: a fix is a `<bksp>` that deleted a wrong token and left a correct
prefix."""

import random

import pytest

from imitlm.demo.metrics import backspace_fixes
from imitlm.evaluation.generation import Sample
from imitlm.models.char_tokenizer import build_char_tokenizer

TOKENIZER = build_char_tokenizer("0123456789abcdef-")
BKSP = len(TOKENIZER)  # an id outside the char vocab, as after extending the vocab with <bksp>
EOS = TOKENIZER.eos_token_id
B = "<B>"


def trace(*steps: str) -> Sample:
    """Actions from characters, B for <bksp>, and "eos"."""
    actions = [BKSP if s == B else EOS if s == "eos" else TOKENIZER.convert_tokens_to_ids(s) for s in steps]
    return Sample(prompt="", text="", actions=actions, finished=actions[-1:] == [EOS])


@pytest.mark.parametrize(
    "steps, expected",
    [
        (("1", "5", B, "2", "3", "eos"), (1, 1)),  # deletes the wrong '5', leaves "1": a fix
        (("1", "2", B, "2", "3", "eos"), (1, 0)),  # deletes the right '2': not a fix
        (("1", "5", "6", B, B, "2", "3"), (2, 1)),  # first leaves "15" (still wrong), second leaves "1": one fix
        (("5", "1", B, B), (2, 1)),  # first deletes a token of a wrong prefix, leaves "5" (wrong); second fixes
        (("5", "1", B), (1, 0)),  # wrong token deleted... but the wrong '5' stays: not a fix
        (("1", "2", "3", "4", B, "eos"), (1, 1)),  # a token past the end of the answer is wrong too
        (("9", B, "8", B, "1"), (2, 2)),
        (("1", "2", "3", "eos"), (0, 0)),
        (("1", "2", B, B, "1"), (2, 0)),  # deleting right tokens back to the empty prefix
    ],
)
def test_backspace_fixes_by_hand(steps, expected):
    assert backspace_fixes(trace(*steps), " 123 ", TOKENIZER, BKSP) == expected  # reference is stripped


def test_no_bksp_id_counts_nothing():
    assert backspace_fixes(trace("1", "5", B, "2"), "123", TOKENIZER, None) == (0, 0)


def fixes_ref(actions: list[int], reference: list[int]) -> tuple[int, int]:
    """Token lists instead of decoded strings: a fix leaves a correct prefix, and the state it deleted from was not
    one (so the deleted token was wrong)."""
    state: list[int] = []
    total = fixed = 0
    for action in actions:
        if action == BKSP:
            total += 1
            before, state = state, state[:-1]
            deleted_was_wrong = reference[: len(before)] != before
            fixed += deleted_was_wrong and reference[: len(state)] == state
        elif action != EOS:
            state.append(action)
    return total, fixed


def test_backspace_fixes_matches_token_level_reference_on_random_traces():
    rng = random.Random(0)
    reference = "1a0"
    reference_ids = TOKENIZER(reference, add_special_tokens=False)["input_ids"]
    alphabet = TOKENIZER(reference + "2b", add_special_tokens=False)["input_ids"]
    for _ in range(300):
        actions, depth = [], 0
        for _ in range(rng.randint(1, 10)):
            if depth and rng.random() < 0.35:
                actions.append(BKSP)
                depth -= 1
            else:
                actions.append(rng.choice(alphabet))
                depth += 1
        sample = Sample(prompt="", text="", actions=actions, finished=False)
        assert backspace_fixes(sample, reference, TOKENIZER, BKSP) == fixes_ref(actions, reference_ids)
