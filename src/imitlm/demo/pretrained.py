"""`imitlm demo --model NAME`: every preset fine-tuned with LoRA from a pretrained model, several seeds, on the two
setups of the papers at small scale (docs/results_real.md): `add_or_sub_in_base` (greedy accuracy under forced
errors, sampled accuracy, Self-BLEU, reward ~ correctness) and the built-in `lee` news prose (one sample per test
prompt at T = 1: MAUVE against the human continuations with the model's own final hidden states as features,
perplexity, Self-BLEU, backspace rate, rewards ~ the base model's log-likelihood). Each task writes `results.json`,
`report.md` and plots into its own folder; `scripts/study_real.py` scores its rows with the same functions.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from imitlm.demo.aggregate import summarise
from imitlm.demo.metrics import evaluate_method
from imitlm.demo.run import machine_line, run_all, trained_row
from imitlm.objectives import BASELINE, PRESETS
from imitlm.reporting.report import difference_table, markdown_table, plot_curves, plot_forced_errors

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]  # Llama/Qwen/Mistral attention; docs/models.md lists others


@dataclass(frozen=True, kw_only=True)
class PretrainedDemoSettings:
    model: str
    preset_steps: int = 60  # text: the length issue 34 measured the <bksp> presets at on SmolLM2
    arithmetic_steps: int = 150
    batch_size: int = 8
    arithmetic_batch_size: int = 16
    learning_rate: float = 2e-4
    arithmetic_learning_rate: float = 1e-3  # chosen on validation: 0.385 greedy against 0.225 at 2e-4 (SmolLM2)
    num_text_prompts: int = 150
    max_new_tokens: int = 32
    num_test_examples: int = 200
    num_diversity_prompts: int = 40
    samples_per_prompt: int = 5
    difficulty: int = 0
    rollout_batch_size: int | None = None  # None: the preset's own (as in the study)
    seeds: tuple[int, ...] = (1, 2, 3)
    workers: int = 2


def quick_settings(model: str) -> PretrainedDemoSettings:
    return PretrainedDemoSettings(
        model=model,
        preset_steps=2,
        arithmetic_steps=2,
        batch_size=2,
        arithmetic_batch_size=4,
        num_text_prompts=6,
        max_new_tokens=6,
        num_test_examples=8,
        num_diversity_prompts=2,
        samples_per_prompt=2,
        rollout_batch_size=2,
        seeds=(1, 2),
        workers=1,
    )


def finetune_config(settings, task: str, preset: str, seed: int, output_dir: Path, **overrides) -> dict:
    """One LoRA run of ``preset`` from ``settings.model`` on ``task`` ("text": `lee`; "arithmetic")."""
    text = task == "text"
    data = {"task": "text", "dataset_name": "lee", "max_length": 128}
    if not text:
        data = {"task": "arithmetic", "difficulty": settings.difficulty, "num_train_examples": 20000}
    return {
        "model_name_or_path": settings.model,
        **data,
        "objective": preset,
        "use_peft": True,
        "lora_target_modules": LORA_TARGETS,
        "per_device_train_batch_size": settings.batch_size if text else settings.arithmetic_batch_size,
        "learning_rate": settings.learning_rate if text else settings.arithmetic_learning_rate,
        "max_steps": settings.preset_steps if text else settings.arithmetic_steps,
        "seed": seed,
        "output_dir": str(output_dir),
        "use_cpu": not torch.cuda.is_available(),
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "logging_steps": 10,
        **({"rollout_batch_size": settings.rollout_batch_size} if settings.rollout_batch_size else {}),
        **overrides,
    }


@torch.no_grad()
def base_log_likelihoods(model, tokenizer, prompts: list[str], texts: list[str]) -> list[float]:
    """Summed log-likelihood of each continuation (+EOS) after its prompt under ``model`` at tau = 1."""
    from imitlm.evaluation.scoring import teacher_forced
    from imitlm.objectives import log_policy_of

    out = []
    for _, _, layout, values, q_taken in teacher_forced(model, tokenizer, prompts, texts, 32, 1.0):
        picked = log_policy_of(q_taken, values, layout.targets, 1.0)  # (B, T)
        out += [float(picked[row][layout.target_mask[row]].sum()) for row in range(picked.shape[0])]
    return out


def score_text(model_dir: str, rows, seed: int, max_new_tokens: int, base, features: dict[str, str]):
    """Text metrics of one model on ``rows`` (one sample per prompt at T = 1, sampling seed ``seed``), and its
    generations. ``base``: (model, tokenizer) of the untuned model; ``features``: name -> MAUVE feature model."""
    from imitlm.evaluation.evaluate import completion_nll
    from imitlm.evaluation.generation import generate_samples
    from imitlm.evaluation.metrics import distinct_n, perplexity, self_bleu
    from imitlm.evaluation.rewards import score_rows, spearman
    from imitlm.evaluation.text_eval import mauve_from_features, text_features
    from imitlm.models import bksp_id_of, load_trained, run_settings

    model, tokenizer = load_trained(model_dir)
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    samples = generate_samples(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=16, do_sample=True, seed=seed
    )
    texts = [s.text for s in samples]
    bksp = bksp_id_of(model)
    nll, tokens = completion_nll(model, tokenizer, rows, 16)
    result = {
        "perplexity": perplexity(nll, tokens),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "self_bleu": self_bleu(texts),
        "mean_length_words": sum(len(t.split()) for t in texts) / len(texts),
        "backspace_rate": sum(s.num_backspaces(bksp) for s in samples) / max(sum(len(s.actions) for s in samples), 1),
        "samples_with_backspace": sum(s.num_backspaces(bksp) > 0 for s in samples),
    }
    distance = [0.0] * len(texts)
    for index, (name, features_model) in enumerate(features.items()):
        generated, human = text_features(texts, features_model), text_features(references, features_model)
        result[f"mauve_{name}"] = mauve_from_features(human.numpy(), generated.numpy())
        if index == 0:  # the headline features: the distance to the human continuation of the same prompt
            distance = (generated - human).norm(dim=-1).tolist()
    completions = [t or "." for t in texts]
    saved = run_settings(model)
    scored = score_rows(
        model,
        tokenizer,
        prompts,
        completions,
        gamma=saved.get("gamma", 0.998),
        tau=saved.get("q_temperature", 1.0),
        batch_size=16,
    )
    returns = [row["return"] for row in scored]
    base_ll = base_log_likelihoods(base[0], base[1], prompts, completions)
    result["spearman_return_base_loglik"] = spearman(returns, base_ll)
    if features:
        result["spearman_return_neg_feature_distance"] = spearman(returns, [-d for d in distance])
    generations = [
        {"prompt": p, "text": t, "reference": r, "return": ret, "base_loglik": ll, "feature_distance": d}
        for p, t, r, ret, ll, d in zip(prompts, texts, references, returns, base_ll, distance)
    ]
    return result, generations


def mauve_features(model: str) -> dict[str, str]:
    """The model's own final hidden states as MAUVE features (docs/models.md: the sane choice), when the optional
    `mauve-text` extra is installed; else none (MAUVE is skipped, said in the report)."""
    try:
        import mauve  # noqa: F401
    except ImportError:
        return {}
    return {"self": model}


def run_text(settings: PretrainedDemoSettings, out: Path, preset: str, seed: int) -> dict:
    from imitlm.models import load_trained
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows("lee", "test").select(range(settings.num_text_prompts))
    config = finetune_config(settings, "text", preset, seed, out / preset / f"seed_{seed}")
    if settings.rollout_batch_size:  # quick runs: short rollouts too
        config["max_new_tokens"] = settings.max_new_tokens

    def score(model_dir: str) -> dict:
        base = load_trained(settings.model)
        metrics, generations = score_text(
            model_dir, rows, seed, settings.max_new_tokens, base, mauve_features(settings.model)
        )
        (Path(model_dir) / "generations.jsonl").write_text("".join(json.dumps(g) + "\n" for g in generations))
        return metrics

    return trained_row(preset, seed, config, score)


def run_arithmetic(settings: PretrainedDemoSettings, out: Path, preset: str, seed: int) -> dict:
    config = finetune_config(settings, "arithmetic", preset, seed, out / preset / f"seed_{seed}")
    return trained_row(preset, seed, config, lambda model_dir: evaluate_method(model_dir, settings))


ARITHMETIC_COLUMNS = (
    "accuracy_greedy",
    "accuracy_forced_0.05",
    "accuracy_forced_0.1",
    "accuracy_sampled",
    "self_bleu",
    "backspace_rate",
    "reward_return_spearman",
    "train_seconds",
)


TEXT_METRICS = (
    "mauve_self",
    "perplexity",
    "self_bleu",
    "distinct_2",
    "backspace_rate",
    "spearman_return_base_loglik",
    "spearman_return_neg_feature_distance",
    "train_seconds",
)


def write_task_report(results: dict, out: Path, task: str) -> str:
    rows = results["methods"]
    lines = [
        f"# imitlm demo --model {results['model']}: {task}",
        "",
        f"Command: `{results['command']}`; machine: {results['machine']}; {results['seconds']:.0f} s.",
        f"Settings: {results['settings']}",
        "",
        f"Seeds: {results['num_seeds']}; test split; mean over seeds [95% interval]; differences against "
        f"{BASELINE} paired by seed (and question, for accuracies).",
        "",
    ]
    if task == "arithmetic":
        table = markdown_table(rows, [("method", "method")] + [(k, k) for k in ARITHMETIC_COLUMNS])
        plot_forced_errors(rows, out / "forced_errors.png")
        lines += [table, "", difference_table(rows, BASELINE), "", "![accuracy vs forced errors](forced_errors.png)"]
    else:
        table = markdown_table(rows, [("method", "method")] + [(k, k) for k in TEXT_METRICS])
        diffs = [{"method": row["method"], **row[f"vs_{BASELINE}"]} for row in rows if f"vs_{BASELINE}" in row]
        columns = [("method", "method")] + [(k, k) for k in ("mauve_self", "perplexity", "self_bleu", "distinct_2")]
        lines += [table, "", markdown_table(diffs, columns)]
        if not results["mauve_features"]:
            lines += ["", "MAUVE skipped: install the optional extra (pip install 'imitlm[mauve]')."]
    plot_curves(results["curves"], out / "training_curves.png")
    lines += ["", "![training curves](training_curves.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return table


def run_pretrained_demo(model: str, quick: bool = False, output_dir: str = "runs/demo-model") -> dict:
    from imitlm.models import resolve_model_path

    settings = quick_settings(model) if quick else PretrainedDemoSettings(model=model)
    resolve_model_path(model)  # a bad name, a missing wheel or a broken GGUF file fails here, before any training
    results = {}
    for task, run in (("arithmetic", run_arithmetic), ("text", run_text)):
        out = Path(output_dir) / task
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        task_settings = replace(settings, preset_steps=settings.arithmetic_steps) if task == "arithmetic" else settings
        print(f"[demo] {task}: {len(PRESETS)} presets x seeds {list(settings.seeds)}, LoRA from {model}", flush=True)
        runs = run_all(task_settings, out, run=run)
        by_method = {preset: [r for r in runs if r["method"] == preset] for preset in PRESETS}
        if task == "arithmetic":
            rows = summarise(by_method, BASELINE)
        else:
            rows = summarise(by_method, BASELINE, accuracies=(), others=TEXT_METRICS, paired=TEXT_METRICS[:4])
        results[task] = {
            "command": f"imitlm demo --model {model}" + (" --quick" if quick else ""),
            "model": model,
            "machine": machine_line(),
            "settings": asdict(settings),
            "num_seeds": len(settings.seeds),
            "mauve_features": mauve_features(model) if task == "text" else None,
            "seconds": round(time.perf_counter() - started, 1),
            "methods": rows,
            "curves": {preset: by_method[preset][0]["history"] for preset in PRESETS},
        }
        (out / "results.json").write_text(json.dumps(results[task], indent=1))
        print(write_task_report(results[task], out, task), flush=True)
        print(f"[demo] wrote {out / 'results.json'} and {out / 'report.md'} in {results[task]['seconds']:.0f} s")
    return results
