"""`imitlm` command line: train | evaluate | generate | rewards | demo | bench.

User mistakes (`UserError`) print one line and exit with code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from imitlm.errors import UserError

COMMANDS = {
    "train": "Train or fine-tune a model (MLE, IQLearn, SequenceMatch) from a YAML recipe and/or flags.",
    "evaluate": "Generate completions for held-out prompts and report accuracy, perplexity and backspace statistics.",
    "generate": "Sample completions for a prompt and show the action trace with deletions visible.",
    "rewards": "Extract per-token implicit rewards and sequence returns of given sequences under a model.",
    "demo": "The main job: compare all presets on the arithmetic task and write a report.",
    "bench": "Measure the cost of each preset against MLE and of our generation against Hugging Face's, as JSON.",
}


def add_evaluate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Trained model directory (the output_dir of `imitlm train`).")
    parser.add_argument("--task", choices=["arithmetic", "text"], default=None,
                        help="arithmetic: a shipped task split (accuracy). text: open-ended generation on --data "
                        "(perplexity, distinct-n, Self-BLEU, MAUVE).")
    parser.add_argument("--data", default=None, help="Or a local jsonl/csv/parquet file of prompt/completion rows.")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"], help="Task split.")
    parser.add_argument("--num_examples", type=int, default=200, help="How many questions (0: all rows of --data).")
    parser.add_argument("--difficulty", type=int, default=1, help="Arithmetic difficulty used in training (0-3).")
    parser.add_argument("--task_seed", type=int, default=0, help="Seed of the arithmetic question generator.")
    parser.add_argument("--max_new_tokens", type=int, default=32, help="Bound on generated actions per sample.")
    parser.add_argument("--batch_size", type=int, default=64, help="Prompts generated at once.")
    parser.add_argument("--do_sample", action="store_true", help="Sample instead of greedy decoding.")
    parser.add_argument("--temperature", type=float, default=1.0, help="Sampling temperature (with --do_sample).")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    parser.add_argument("--output", default=None, help="Where to write the JSON result (default: MODEL/eval_SPLIT.json).")
    parser.add_argument("--prompt_tokens", type=int, default=8,
                        help="--task text: plain-text rows are prompted with their first N tokens.")
    parser.add_argument("--mauve_features_model", default=None,
                        help="--task text: local model directory for MAUVE features (needs the mauve extra).")


def add_generate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Trained model directory.")
    parser.add_argument("--prompt", required=True, help="Prompt text, e.g. 'In base 9, what is -118 + 17301? '.")
    parser.add_argument("--num_return_sequences", type=int, default=1, help="Samples to draw for the prompt.")
    parser.add_argument("--temperature", type=float, default=1.0, help="Sampling temperature; 0 means greedy.")
    parser.add_argument("--top_k", type=int, default=0, help="Keep only the k most likely actions (0: all).")
    parser.add_argument("--top_p", type=float, default=1.0, help="Nucleus sampling mass (1.0: off).")
    parser.add_argument("--max_new_tokens", type=int, default=64, help="Bound on generated actions.")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object per sample (text, actions, num_backspaces).")


def add_rewards_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Trained model directory.")
    parser.add_argument("--data", required=True, help="jsonl/csv/parquet file of prompt/completion (or text) rows.")
    parser.add_argument("--output", default=None, help="JSON-lines output (default: stdout).")
    parser.add_argument("--gamma", type=float, default=None, help="Discount (default: the model's training gamma or 0.998).")
    parser.add_argument("--q_temperature", type=float, default=1.0, help="Temperature tau of the soft value.")
    parser.add_argument("--batch_size", type=int, default=32, help="Rows scored at once.")


def add_demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="A seconds-long smoke run with tiny settings.")
    parser.add_argument("--output_dir", default="runs/demo", help="Where models, results.json and report.md go.")


def add_bench_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="Tiny sizes and 2-3 repeats: a smoke run of well under a minute.")
    parser.add_argument("--output", default=None, help="Write the JSON result here (e.g. benchmarks/results/cpu.json).")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="Default: cuda if available, else cpu.")
    parser.add_argument("--only", default=None,
                        help="Comma-separated subset of the measurements: train,generation,online,memory (default: all).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imitlm",
        description="Imitation-learning training for language models: SequenceMatch (with <bksp>) and IQLearn, "
        "on transformers' Trainer. Run `imitlm COMMAND --help` for each command's options.",
    )
    parser.add_argument("--debug", action="store_true", help="Show full tracebacks for errors.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text, add_help=name != "train")
        if name == "evaluate":
            add_evaluate_args(command)
        elif name == "generate":
            add_generate_args(command)
        elif name == "rewards":
            add_rewards_args(command)
        elif name == "demo":
            add_demo_args(command)
        elif name == "bench":
            add_bench_args(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    try:
        if argv[0] == "train":
            return run_train(argv[1:])
        args = parser.parse_args(argv)
        return {"evaluate": run_evaluate, "generate": run_generate, "rewards": run_rewards, "demo": run_demo,
                "bench": run_bench}[
            args.command](args)
    except UserError as error:
        if debug:
            raise
        print(f"imitlm: error: {error}", file=sys.stderr)
        return 2


def run_train(argv: list[str]) -> int:
    from imitlm.training.parsing import parse_train_args
    from imitlm.training.run import train

    config = parse_train_args(argv)
    train(config)
    print(f"model saved to {config.output_dir}")
    return 0


def run_evaluate(args) -> int:
    from imitlm.evaluation.evaluate import evaluate, load_eval_rows, load_trained, write_json

    model, tokenizer = load_trained(args.model)
    if args.task == "text":
        return run_evaluate_text(args, model, tokenizer)
    rows = load_eval_rows(args.task, args.data, args.split, args.num_examples, args.task_seed, args.difficulty, tokenizer)
    result = evaluate(model, tokenizer, rows, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                      do_sample=args.do_sample, temperature=args.temperature, seed=args.seed)
    output = args.output or os.path.join(args.model, f"eval_{args.split if args.data is None else 'data'}.json")
    write_json(result, output)
    print(f"accuracy {result['accuracy']:.4f} on {result['num_examples']} examples "
          f"(perplexity {result['perplexity']:.3f}, backspace rate {result['backspace_rate']:.4f}); wrote {output}")
    return 0


def run_evaluate_text(args, model, tokenizer) -> int:
    from imitlm.evaluation.evaluate import write_json
    from imitlm.evaluation.text_eval import evaluate_text
    from imitlm.tasks.text import load_raw_dataset, to_prompt_completion

    if args.data is None:
        raise UserError("--task text needs --data FILE (jsonl/csv/parquet with text or prompt/completion rows)")
    rows = to_prompt_completion(load_raw_dataset(args.data), tokenizer, source=args.data)
    if args.num_examples:
        rows = rows.select(range(min(args.num_examples, len(rows))))
    result = evaluate_text(model, tokenizer, rows, prompt_tokens=args.prompt_tokens,
                           max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                           temperature=args.temperature, seed=args.seed,
                           mauve_features_model=args.mauve_features_model)
    output = args.output or os.path.join(args.model, "eval_text.json")
    write_json(result, output)
    shown = {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}
    print(f"{shown} on {result['num_examples']} rows; wrote {output}")
    return 0


def run_generate(args) -> int:
    import json

    from imitlm.evaluation.evaluate import load_trained
    from imitlm.evaluation.generation import bksp_id_of, generate_samples
    from imitlm.rollout.display import format_trace

    model, tokenizer = load_trained(args.model)
    samples = generate_samples(
        model, tokenizer, [args.prompt] * args.num_return_sequences, max_new_tokens=args.max_new_tokens,
        do_sample=args.temperature > 0, temperature=max(args.temperature, 1e-6), top_k=args.top_k, top_p=args.top_p,
        seed=args.seed,
    )
    bksp = bksp_id_of(model)
    for sample in samples:
        tokens = tokenizer.convert_ids_to_tokens(sample.actions)
        if args.json:
            print(json.dumps({"text": sample.text, "actions": tokens, "num_backspaces": sample.num_backspaces(bksp)}))
        else:
            marks = tokenizer.convert_ids_to_tokens(bksp) if bksp is not None else [False] * len(tokens)
            trace = format_trace(tokens, marks, color=sys.stdout.isatty())
            print(f"{args.prompt}{sample.text}\n  trace: {trace}")
    return 0


def run_rewards(args) -> int:
    from imitlm.evaluation.rewards import write_rewards

    write_rewards(args)
    return 0


def run_demo(args) -> int:
    from imitlm.demo import run_demo as demo

    demo(quick=args.quick, output_dir=args.output_dir)
    return 0


def run_bench(args) -> int:
    from imitlm.benchmarking.runner import run_bench as bench

    from imitlm.benchmarking.runner import SECTIONS

    sections = SECTIONS if args.only is None else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise UserError(f"--only: unknown measurement {unknown[0]!r}; use some of {','.join(SECTIONS)}")
    result = bench(quick=args.quick, device=args.device, output=args.output, sections=sections)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
