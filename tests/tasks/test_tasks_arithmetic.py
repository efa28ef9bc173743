import pytest
from transformers import AutoTokenizer

from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET, generate_problems, split_of


def test_same_seed_same_questions():
    assert generate_problems(50, "train", seed=3) == generate_problems(50, "train", seed=3)
    assert generate_problems(50, "train", seed=3) != generate_problems(50, "train", seed=4)


def test_splits_are_disjoint():
    train = {p.prompt for p in generate_problems(800, "train", seed=0)}
    test = {p.prompt for p in generate_problems(100, "test", seed=0)}
    validation = {p.prompt for p in generate_problems(100, "validation", seed=0)}
    assert not train & test and not train & validation and not test & validation
    assert all(split_of(q.strip()) == "test" for q in test)


def test_format_and_answers_are_right():
    for problem in generate_problems(30, "test", seed=1, difficulty=2):
        question = problem.prompt.strip()
        assert question.startswith("In base ") and question.endswith("?")
        base = int(question.split()[2].rstrip(","))
        left, op, right = question.rstrip("?").split(" is ")[1].split(" ")
        value = int(left, base) + (1 if op == "+" else -1) * int(right, base)
        assert int(problem.completion, base) == value


def test_generation_does_not_disturb_global_random_state():
    import random

    random.seed(5)
    expected = random.random()
    random.seed(5)
    generate_problems(5, "train")
    assert random.random() == expected


def test_char_tokenizer_round_trip(tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    text = "In base 16, what is -2c5 + 1f?"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text, add_special_tokens=False)["input_ids"] == ids
    assert reloaded.decode(ids) == text
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        assert getattr(reloaded, name) == getattr(tokenizer, name) is not None
    assert reloaded.decode([reloaded.bos_token_id] + ids + [reloaded.eos_token_id], skip_special_tokens=True) == text


@pytest.mark.parametrize("difficulty", [0, 1, 2, 3])
def test_difficulty_knob(difficulty):
    problems = generate_problems(20, "train", seed=0, difficulty=difficulty)
    assert len(problems) == 20
