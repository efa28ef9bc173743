"""The demo's measurements of one trained model on held-out arithmetic questions (docs/design.md, "Evaluation")."""

from __future__ import annotations

from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import Sample, forced_error_samples, generate_samples
from imitlm.evaluation.metrics import distinct_n, exact_match, per_question_correct, perplexity, self_bleu
from imitlm.evaluation.rewards import score_rows, spearman
from imitlm.models import bksp_id_of, load_trained, run_settings
from imitlm.rollout.display import trace_of
from imitlm.tasks import arithmetic_rows

FORCED_ERROR_RATES = (0.0, 0.05, 0.1)


def backspace_fixes(sample: Sample, reference: str, tokenizer, bksp_id: int | None) -> tuple[int, int]:
    """(backspaces, backspaces that deleted a wrong token and left a correct prefix) along a trace."""
    if bksp_id is None:
        return 0, 0
    state: list[int] = []
    total = fixed = 0
    target = reference.strip()
    for action in sample.actions:
        if action == bksp_id:
            total += 1
            before = tokenizer.decode(state, skip_special_tokens=True)
            state = state[:-1]
            after = tokenizer.decode(state, skip_special_tokens=True)
            fixed += (not target.startswith(before)) and target.startswith(after)
        elif action != tokenizer.eos_token_id:
            state.append(action)
    return total, fixed


def evaluate_method(model_dir: str, settings, split: str = "test") -> dict:
    """Every demo metric of one trained model on ``settings.num_test_examples`` questions of ``split``;
    ``per_question`` holds 0/1 correctness per question for each accuracy (the same questions for every method and
    seed). The study script scores its validation runs with the same function."""
    model, tokenizer = load_trained(model_dir)
    rows = arithmetic_rows(split, settings.num_test_examples, seed=0, difficulty=settings.difficulty)
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    bksp = bksp_id_of(model)
    result: dict = {}
    per_question: dict[str, list[int]] = {}
    num_bksp = num_fixed = num_actions = 0
    examples: list[dict] = []
    for rate in FORCED_ERROR_RATES:
        samples = forced_error_samples(model, tokenizer, prompts, rate, max_new_tokens=24)
        per_question[f"accuracy_forced_{rate}"] = per_question_correct([s.text for s in samples], references)
        for sample, reference in zip(samples, references):
            total, fixed = backspace_fixes(sample, reference, tokenizer, bksp)
            num_bksp, num_fixed, num_actions = num_bksp + total, num_fixed + fixed, num_actions + len(sample.actions)
            if total and len(examples) < 6:
                trace = trace_of(tokenizer, sample.actions, bksp, color=False)
                examples.append(
                    {
                        "prompt": sample.prompt,
                        "trace": trace,
                        "reference": reference,
                        "correct": exact_match(sample.text, reference),
                        "forced_error_rate": rate,
                    }
                )
        if rate == 0.0:
            per_question["accuracy_greedy"] = per_question.pop("accuracy_forced_0.0")
    result["backspace_examples"] = examples
    result["backspace_rate"] = num_bksp / max(num_actions, 1)
    result["backspace_fix_rate"] = num_fixed / num_bksp if num_bksp else None
    sampled = generate_samples(model, tokenizer, prompts, max_new_tokens=24, do_sample=True, temperature=1.0, seed=2)
    per_question["accuracy_sampled"] = per_question_correct([s.text for s in sampled], references)
    nll, tokens = completion_nll(model, tokenizer, rows)
    result["perplexity"] = perplexity(nll, tokens)
    # Diversity: several samples of the same prompt, character n-grams (answers are digit strings).
    diverse_prompts = prompts[: settings.num_diversity_prompts]
    repeated = [p for p in diverse_prompts for _ in range(settings.samples_per_prompt)]
    texts = [s.text for s in generate_samples(model, tokenizer, repeated, max_new_tokens=24, do_sample=True, seed=3)]
    groups = [texts[i : i + settings.samples_per_prompt] for i in range(0, len(texts), settings.samples_per_prompt)]
    result["distinct_1"] = sum(distinct_n(g, 1, list) for g in groups) / len(groups)
    result["distinct_2"] = sum(distinct_n(g, 2, list) for g in groups) / len(groups)
    result["self_bleu"] = sum(self_bleu(g, tokenize="char") for g in groups) / len(groups)
    # Wulfmeier et al.'s reward analysis: do sequence returns rank correct answers above wrong ones? For every preset:
    # an MLE model's logits imply a reward too, the comparison the paper makes.
    saved = run_settings(model)
    scored = score_rows(
        model,
        tokenizer,
        prompts,
        [s.text or "0" for s in sampled],
        gamma=saved.get("gamma", 0.998),
        tau=saved.get("q_temperature", 1.0),
    )
    correct = [float(exact_match(s.text, r)) for s, r in zip(sampled, references)]
    result["reward_return_spearman"] = spearman([row["return"] for row in scored], correct)
    result["num_test_examples"] = len(prompts)
    result = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}
    result.update({name: sum(values) / len(values) for name, values in per_question.items()})  # exact fractions
    return {**result, "per_question": per_question}  # 0/1 per test question, for paired intervals
