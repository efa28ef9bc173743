"""`imitlm demo --task text`: the presets on real English prose, where MAUVE and diversity mean something.

As the arithmetic demo (`demo/run.py`): one MLE base model from scratch (with a byte-level BPE trained on the
corpus's training split), each preset continuing from it once per seed, every model scored on the same test rows
(held-out articles, `tasks/corpora.py`). MAUVE needs a feature model and none can be downloaded: a separate MLE
model is trained here on the training split only, with its own seed, and its final hidden states over each
continuation (read after its prompt) are the features; mean-pooled is the headline, the last token's state is
reported beside it as a check of MAUVE's sensitivity to the choice.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from imitlm.demo.aggregate import summarise
from imitlm.demo.run import _one_thread, machine_line, objective_table, run_all, train_timed, trained_row
from imitlm.demo.text_settings import (
    DEFAULT,
    QUICK,
    TEXT_OVERRIDES,
    TextDemoSettings,
    base_config,
    feature_config,
    preset_config,
    train_rows_file,
)
from imitlm.objectives import BASELINE, PRESETS, preset_names

TEXT_METRICS = (
    "perplexity",
    "mauve",
    "mauve_last_token",
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "self_bleu",
    "repetition_rate",
    "backspace_rate",
    "mean_length_words",
    "train_seconds",
    "rollout_seconds",
)
PAIRED = ("perplexity", "mauve", "mauve_last_token", "self_bleu", "distinct_2", "repetition_rate")
NUM_SIDE_BY_SIDE = 4  # test prompts whose continuations the report shows for every method


def eval_rows(settings: TextDemoSettings):
    """The rows every model is scored on: the first ``num_test_prompts`` of ``eval_split`` (the test split)."""
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows(settings.corpus, settings.eval_split)
    if settings.num_test_prompts is not None:
        rows = rows.select(range(min(settings.num_test_prompts, len(rows))))
    return rows


def diversity(texts: list[str]) -> dict:
    """Distinct-1/2/3 (words), Self-BLEU (first 200 texts) and repetition rate of a set of continuations."""
    from imitlm.evaluation.metrics import distinct_n, repetition_rate, self_bleu

    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "self_bleu": self_bleu(texts[:200]),
        "repetition_rate": repetition_rate(texts),
        "mean_length_words": sum(len(t.split()) for t in texts) / max(len(texts), 1),
    }


def evaluate_text_method(model_dir: str, settings: TextDemoSettings, features_dir: str) -> dict:
    """Every text metric of one trained model on the scored rows (`eval_rows`): one sample (T = 1) per prompt."""
    from imitlm.evaluation.evaluate import completion_nll
    from imitlm.evaluation.generation import generate_samples
    from imitlm.evaluation.metrics import perplexity
    from imitlm.evaluation.text_eval import continuation_features, mauve_from_features
    from imitlm.models import bksp_id_of, load_trained
    from imitlm.rollout.display import trace_of

    model, tokenizer = load_trained(model_dir)
    rows = eval_rows(settings)
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    nll, tokens = completion_nll(model, tokenizer, rows)
    samples = generate_samples(
        model, tokenizer, prompts, max_new_tokens=settings.max_new_tokens, do_sample=True, temperature=1.0, seed=2
    )
    texts = [s.text for s in samples]
    bksp = bksp_id_of(model)
    num_bksp = sum(s.num_backspaces(bksp) for s in samples)
    examples = []
    if bksp is not None:
        for sample in samples:
            if sample.num_backspaces(bksp) and len(examples) < 4:
                trace = trace_of(tokenizer, sample.actions, bksp, color=False)
                examples.append({"prompt": sample.prompt, "trace": trace, "text": sample.text})
    feature_model, feature_tokenizer = load_trained(features_dir)
    mean_p, last_p = continuation_features(feature_model, feature_tokenizer, prompts, references)
    mean_q, last_q = continuation_features(feature_model, feature_tokenizer, prompts, texts)
    result = {
        "perplexity": perplexity(nll, tokens),
        "mauve": mauve_from_features(mean_p.numpy(), mean_q.numpy()),
        "mauve_last_token": mauve_from_features(last_p.numpy(), last_q.numpy()),
        **diversity(texts),
        "backspace_rate": num_bksp / max(sum(len(s.actions) for s in samples), 1),
        "num_test_prompts": len(prompts),
    }
    result = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}
    return {**result, "backspace_examples": examples, "samples": texts[:NUM_SIDE_BY_SIDE]}


def run_one(settings: TextDemoSettings, out: Path, preset: str, seed: int) -> dict:
    """One imitation phase from the shared base (``preset``, ``seed``) and its evaluation on the test rows."""
    gc.freeze()  # the Trainer's closing gc.collect() then skips the imported modules' objects: ~1 s a run here
    features = str(out / "features")
    config = preset_config(settings, out, preset, seed)
    return trained_row(preset, seed, config, lambda model_dir: evaluate_text_method(model_dir, settings, features))


def write_train_rows(settings: TextDemoSettings, out: Path) -> int:
    """The corpus's training rows (all, or the first ``num_train_rows``) as jsonl in the run directory: every model
    of the run trains on this file (`--dataset_name lee` reads the same rows, all of them)."""
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows(settings.corpus, "train")
    if settings.num_train_rows is not None:
        rows = rows.select(range(min(settings.num_train_rows, len(rows))))
    path = train_rows_file(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return len(rows)


def train_base_and_features(settings: TextDemoSettings, out: Path) -> dict:
    """The shared MLE base and the MAUVE feature model (in two processes when ``settings.workers`` > 1)."""
    configs = {"base": base_config(settings, out), "features": feature_config(settings, out)}
    if settings.workers <= 1:
        return {name: train_timed(config) for name, config in configs.items()}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context, initializer=_one_thread) as pool:
        futures = {name: pool.submit(train_timed, config) for name, config in configs.items()}
        return {name: future.result() for name, future in futures.items()}


def corpus_description(settings: TextDemoSettings) -> dict:
    from imitlm.tasks.corpora import COMPLETION_WORDS, CORPORA, PROMPT_WORDS, load_documents, split_documents

    splits = split_documents(load_documents(settings.corpus))
    return {
        "corpus": settings.corpus,
        "file": f"gensim/test/test_data/{CORPORA[settings.corpus]}",
        "articles": {split: len(documents) for split, documents in splits.items()},
        "prompt_words": PROMPT_WORDS,
        "continuation_words": COMPLETION_WORDS,
    }


def run_text_demo(quick: bool = False, output_dir: str = "runs/demo-text") -> dict:
    from imitlm.reporting.text_report import write_text_report

    settings = QUICK if quick else DEFAULT
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    corpus = corpus_description(settings)  # fails early, with the fix, when gensim is missing
    corpus["train_rows"] = write_train_rows(settings, out)
    print(f"[demo] {corpus['corpus']}: articles per split {corpus['articles']}, {corpus['train_rows']} training rows")
    print(f"[demo] training the MLE base ({settings.base_steps} steps) and the MAUVE feature model", flush=True)
    trained = train_base_and_features(settings, out)
    runs = run_all(settings, out, run=run_one)
    by_method = {preset: [run for run in runs if run["method"] == preset] for preset in PRESETS}
    rows = summarise(by_method, BASELINE, accuracies=(), others=TEXT_METRICS, paired=PAIRED)
    for row in rows:
        row["samples"] = by_method[row["method"]][0]["samples"]  # the first seed's, for the side-by-side table
    references = eval_rows(settings)
    human = diversity(list(references["completion"]))
    results = {
        "command": "imitlm demo --task text" + (" --quick" if quick else ""),
        "machine": machine_line(),
        "settings": asdict(settings),
        "preset_overrides": TEXT_OVERRIDES,
        "objective_settings": objective_table(settings, out, preset_config),
        "corpus": corpus,
        "num_seeds": len(settings.seeds),
        "seeds_note": "one MLE base model (seed 0) shared by every method; each method's imitation phase runs once "
        "per seed; intervals are Student-t over those seeds, differences against the baseline "
        f"({BASELINE}) are paired by seed",
        "features_note": f"MAUVE features: final hidden states of a separate MLE model (seed {settings.feature_seed}, "
        f"{settings.feature_steps} steps, training split only) over each continuation read after its prompt; "
        "`mauve` mean-pools them, `mauve_last_token` takes the last token's (sensitivity to the choice)",
        # the goals: SequenceMatch (IL + backspace) raises MAUVE; offline IQLearn lowers Self-BLEU
        "goals": {
            "mauve_above": preset_names(use_il=True, backspace=True)[0],
            "self_bleu_below": preset_names(use_il=True, online=False)[0],
        },
        "human": {k: round(v, 4) for k, v in human.items()},
        "side_by_side": {"prompts": references["prompt"][:NUM_SIDE_BY_SIDE]}
        | {"references": references["completion"][:NUM_SIDE_BY_SIDE]},
        "base_train_seconds": round(trained["base"]["train_seconds"], 2),
        "total_seconds": round(time.perf_counter() - started, 1),
        "methods": rows,
        "curves": {"base": trained["base"]["history"], **{p: by_method[p][0]["history"] for p in PRESETS}},
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = write_text_report(results, out)
    print(table)
    print(f"[demo] wrote {out / 'results.json'} and {out / 'report.md'} in {results['total_seconds']:.0f} s")
    return results
