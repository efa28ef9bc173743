"""`imitlm evaluate` and `imitlm generate` on parsed arguments (`arguments.EvaluateArguments`, `GenerateArguments`):
the settings a model was trained with fill the options left unset, the data is checked, the result is written or
printed. The command line only parses and dispatches here."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys

from imitlm.data.checks import check_text
from imitlm.data.fit import fit_rows, fit_text_rows
from imitlm.errors import UserError
from imitlm.jsonfiles import write_json
from imitlm.models import bksp_id_of, load_trained, model_max_length, run_settings, setting
from imitlm.validation import check_output_file

logger = logging.getLogger(__name__)


def evaluate_command(args) -> int:
    """`imitlm evaluate`: a task split (accuracy, perplexity, backspace statistics) or `--task text` on `--data`."""
    from imitlm.evaluation.evaluate import evaluate, forced_error_accuracies, load_eval_rows

    if args.task == "arithmetic" and args.data:
        raise UserError("--task arithmetic generates its own questions, so --data would be ignored; drop one of them")
    if args.output is None and os.path.isdir(args.model):  # the default output goes into the model's directory
        check_output_file(os.path.join(args.model, "eval.json"), "--output (default: in --model)")
    model, tokenizer = load_trained(args.model, gguf_file=args.gguf_file)
    task = evaluate_task(args, model)  # --task, else the task the model was trained on
    evaluate_warnings(args)
    if task == "text":
        return evaluate_text_command(args, model, tokenizer)
    if task == "arithmetic" and args.data is None and args.num_examples == 0:
        raise UserError("--num_examples 0 means every row of --data; give a number of arithmetic questions")
    if args.mauve_features_model is not None or args.prompt_tokens != 8:
        logger.warning("--mauve_features_model and --prompt_tokens are read only with --task text; ignored here")
    if not args.do_sample and args.temperature != 1.0:
        logger.warning(f"--temperature {args.temperature} ignored: decoding is greedy without --do_sample true")
    rows = load_eval_rows(
        task,
        args.data,
        args.split,
        args.num_examples,
        setting(args.task_seed, model, "task_seed", 0),
        setting(args.difficulty, model, "difficulty", 1),
        tokenizer,
    )
    rows = fit_rows(rows, tokenizer, model_max_length(model), args.data or "the questions")
    check_text(
        [*rows["prompt"], *rows["completion"]],
        tokenizer,
        args.data or "the questions",
        consequence=" (a reference holding one can never be matched exactly)",
    )
    output = args.output or os.path.join(args.model, f"eval_{args.split if args.data is None else 'data'}.json")
    say_if_replaced(output)
    max_new_tokens = setting(args.max_new_tokens, model, "max_new_tokens", 32)
    result = evaluate(
        model,
        tokenizer,
        rows,
        max_new_tokens=max_new_tokens,
        batch_size=args.batch_size,
        do_sample=args.do_sample,
        temperature=args.temperature,
        seed=args.seed,
    )
    rates = list(dict.fromkeys(args.forced_error_rates))
    forced = forced_error_accuracies(
        model, tokenizer, rows, rates, max_new_tokens=max_new_tokens, batch_size=args.batch_size
    )
    result = {**result, **forced}
    write_json(result, output)
    shown = ", ".join(f"{value:.4f} at rate {rate:g}" for rate, value in zip(rates, forced.values()))
    with_errors = f" (with forced errors: {shown})" if rates else ""
    print(
        f"accuracy {result['accuracy']:.4f}{with_errors} on {result['num_examples']} examples "
        f"(perplexity {result['perplexity']:.3f}, backspace rate {result['backspace_rate']:.4f}); wrote {output}"
    )
    return 0


def say_if_replaced(output: str) -> None:
    """One line before an earlier result is overwritten, while the user can still stop and keep it."""
    if os.path.exists(output):
        logger.warning(f"{output} exists (an earlier evaluation); it will be replaced: give --output to keep both")


def evaluate_text_command(args, model, tokenizer) -> int:
    """`imitlm evaluate --task text --data FILE`: perplexity, diversity and (with a features model) MAUVE."""
    from imitlm.evaluation.text_eval import (
        check_features_model,
        default_features_model,
        evaluate_text,
        split_plain_text,
    )
    from imitlm.tasks.text import load_raw_dataset, to_prompt_completion

    if args.data is None:
        raise UserError("--task text needs --data FILE (jsonl/csv/parquet with text or prompt/completion rows)")
    if args.forced_error_rates:
        logger.warning("--forced_error_rates is read for answers scored by exact match, not with --task text; ignored")
    features = args.mauve_features_model
    features = default_features_model() if features is None else (None if features == "none" else features)
    if features is not None:  # before any generation: MAUVE comes last
        check_features_model(features)
    output = args.output or os.path.join(args.model, "eval_text.json")
    say_if_replaced(output)
    rows = to_prompt_completion(load_raw_dataset(args.data), tokenizer, source=args.data)
    if args.num_examples:
        rows = rows.select(range(min(args.num_examples, len(rows))))
    check_text([*rows["prompt"], *rows["completion"]], tokenizer, args.data)
    split = functools.partial(split_plain_text, tokenizer=tokenizer, prompt_tokens=args.prompt_tokens)
    rows = fit_text_rows(rows, tokenizer, model_max_length(model), args.data, split)
    result = evaluate_text(
        model,
        tokenizer,
        rows,
        prompt_tokens=args.prompt_tokens,
        max_new_tokens=setting(args.max_new_tokens, model, "max_new_tokens", 32),
        batch_size=args.batch_size,
        temperature=args.temperature,
        seed=args.seed,
        mauve_features_model=features,
    )
    write_json(result, output)
    shown = {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}
    print(f"{shown} on {result['num_examples']} rows; wrote {output}")
    return 0


def generate_command(args) -> int:
    """`imitlm generate`: samples for one prompt, each with its action trace (deletions visible) or as JSON."""
    from imitlm.evaluation.generation import generate_samples
    from imitlm.rollout.display import trace_of

    if args.temperature == 0 and (args.top_k != 0 or args.top_p != 1.0):
        logger.warning("--top_k/--top_p ignored: --temperature 0 is greedy decoding")
    model, tokenizer = load_trained(args.model, gguf_file=args.gguf_file)
    check_text([args.prompt], tokenizer, "the prompt")
    samples = generate_samples(
        model,
        tokenizer,
        [args.prompt] * args.num_return_sequences,
        max_new_tokens=setting(args.max_new_tokens, model, "max_new_tokens", 32),
        batch_size=args.batch_size,
        do_sample=args.temperature > 0,
        temperature=max(args.temperature, 1e-6),
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    bksp = bksp_id_of(model)
    for sample in samples:
        tokens = tokenizer.convert_ids_to_tokens(sample.actions)
        if args.json:
            print(json.dumps({"text": sample.text, "actions": tokens, "num_backspaces": sample.num_backspaces(bksp)}))
        else:
            trace = trace_of(tokenizer, sample.actions, bksp, color=sys.stdout.isatty())
            print(f"{args.prompt}{sample.text}\n  trace: {trace}")
    return 0


def evaluate_task(args, model) -> str | None:
    """The task `evaluate` scores: --task, else the one the model was trained on (`imitlm train` records it), else
    exact match on --data. A text model scored by exact match would report a meaningless accuracy."""
    if args.task is not None:
        return args.task
    trained_on = run_settings(model).get("task")
    if args.data is None:
        return trained_on
    if trained_on == "text":
        logger.warning("evaluating as --task text, the task %s was trained on (pass --task to choose)", args.model)
        return "text"
    return None


def evaluate_warnings(args) -> None:
    if args.data is not None and args.split != "test":
        logger.warning("--split %s ignored: with --data the rows of %s are evaluated", args.split, args.data)
