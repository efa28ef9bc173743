"""`imitlm` command line: train | evaluate | generate | rewards | sweep | demo | bench.

User mistakes (`UserError`, found at parse time by `validation.check_options` and the config's checks) print one line
and exit with code 2; Ctrl-C prints one line (in training: the step, the last complete checkpoint and the resume
command) and exits with 130; `--debug` shows the traceback. docs/reliability.md lists every mistake handled.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys

from imitlm import __version__
from imitlm.errors import UserError

COMMANDS = {
    "train": "Train or fine-tune a model (MLE, IQLearn, SequenceMatch) from a YAML recipe and/or flags.",
    "evaluate": "Generate completions for held-out prompts and report accuracy, perplexity and backspace statistics.",
    "generate": "Sample completions for a prompt and show the action trace with deletions visible.",
    "rewards": "Extract per-token implicit rewards and sequence returns of given sequences under a model.",
    "sweep": "Search training options with Optuna (TPE): each trial trains from a recipe and is scored on validation.",
    "demo": "The main job: compare all presets on the arithmetic task (--task text: on English prose) and report.",
    "bench": "Measure the cost of each preset against MLE and of our generation against Hugging Face's, as JSON.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imitlm",
        description="Imitation-learning training for language models: SequenceMatch (with <bksp>) and IQLearn, "
        "on transformers' Trainer. Run `imitlm COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"imitlm {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="On an error, show the full Python traceback instead of one line."
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Show every library notice and progress bar (by default only the training progress, logs and "
        "warnings you can act on).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def parse_command(command: str, argv: list[str]):
    """`imitlm COMMAND ...` -> the command's dataclass (`arguments.COMMAND_SCHEMAS`), its values checked."""
    from transformers import HfArgumentParser

    from imitlm.arguments import COMMAND_SCHEMAS
    from imitlm.validation import check_options, raise_user_errors, refuse_unknown

    parser = HfArgumentParser(COMMAND_SCHEMAS[command], prog=f"imitlm {command}", description=COMMANDS[command])
    raise_user_errors(parser, command)
    args, unknown = parser.parse_args_into_dataclasses(argv, look_for_args_file=False, return_remaining_strings=True)
    refuse_unknown(parser, unknown, command)
    check_options(args)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug, verbose = "--debug" in argv, "--verbose" in argv
    argv = [a for a in argv if a not in ("--debug", "--verbose")]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = dispatch(argv, verbose)
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not when the interpreter exits
        return code
    except BrokenPipeError:
        return closed_pipe()
    except UserError as error:
        if debug:
            raise
        print(f"imitlm: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the environment: a full disk, a permission, a file that went away mid-run
        if debug:
            raise
        where = f" ({error.filename})" if error.filename else ""
        print(f"imitlm: error: {error.strerror or error}{where}; free space or fix the path and rerun", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        if debug:
            raise
        print(f"imitlm: interrupted{': ' + str(interrupt) if str(interrupt) else ''}", file=sys.stderr)
        return 130


def dispatch(argv: list[str], verbose: bool) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    if argv[0] == "--version":
        print(f"imitlm {__version__}")
        return 0
    if not verbose:
        quiet_libraries()
    return run_command(argv[0], argv[1:], verbose=verbose)


def closed_pipe() -> int:
    """The reader of our output went away (`imitlm ... | head`): stop quietly, as `cat` does. Python would meet the
    closed pipe again when it flushes stdout at exit, so what is left goes to /dev/null."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout with no file descriptor (captured, replaced): nothing to flush
        pass
    return 0


def quiet_libraries() -> None:
    """Silence, at their source, library output that is not the user's business: DeepSpeed's "Setting accelerator
    to CPU" notice on machines without CUDA, the progress bars of dataset maps and weight loading (the Trainer's own
    progress bar stays) and transformers' guess that padded inputs lack an attention mask. `--verbose` skips this.
    Also through the environment, for the processes a command starts (the demo's workers)."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed would detect the same, with a warning
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when a child imports datasets
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' loading bars read this
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers.modeling_utils").addFilter(not_padding_advice)


def not_padding_advice(record: logging.LogRecord) -> bool:
    """False for transformers' "We strongly recommend passing in an `attention_mask`" warning: it guesses from a pad
    id in the first or last column, and imitlm's generation and scoring mask their padding by positions and 4D
    masks of their own (docs/design.md, "The `<bksp>` layout")."""
    return "passing in an `attention_mask`" not in record.getMessage()


def run_command(command: str, argv: list[str], verbose: bool = False) -> int:
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(COMMANDS)}"
        raise UserError(f"unknown command {command!r}; {hint}")
    if command == "train":
        return run_train(argv)
    if command == "sweep":
        if not verbose:
            quiet_optuna()
        return run_sweep(argv)
    args = parse_command(command, argv)
    return {
        "evaluate": run_evaluate,
        "generate": run_generate,
        "rewards": run_rewards,
        "demo": run_demo,
        "bench": run_bench,
    }[command](args)


def warn(message: str) -> None:
    """One line on stderr for an option the command will not read (it still runs)."""
    logging.getLogger("imitlm").warning(message)


def run_train(argv: list[str]) -> int:
    import shlex
    import time

    from imitlm.training.config import ignored_options
    from imitlm.training.parsing import parse_train_args
    from imitlm.training.run import TrainingInterrupted, train
    from imitlm.training.summary import final_summary

    if "-h" in argv or "--help" in argv:
        from imitlm.training.parsing import train_help

        print(train_help())
        return 0
    argv = ["--help" if word == "--help-all" else word for word in argv]
    config = parse_train_args(argv)
    for line in ignored_options(config):
        warn(line)
    started = time.perf_counter()
    try:
        trainer = train(config, announce=True)
    except TrainingInterrupted as stop:
        if stop.checkpoint is None:
            raise KeyboardInterrupt(f"{stop}; run the same command to start again") from None
        resume = shlex.join(["imitlm", "train", *without_option(argv, "--resume_from_checkpoint")])
        raise KeyboardInterrupt(f"{stop}; resume with: {resume} --resume_from_checkpoint last") from None
    close_process_group()
    if trainer.is_world_process_zero():
        print(final_summary(config, trainer.state.log_history, time.perf_counter() - started))
    return 0


def close_process_group() -> None:
    """Under torchrun, tear the process group down once every rank is done: gloo threads left running at
    interpreter exit can abort a rank ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` less ``option`` and its value (``--option value`` or ``--option=value``)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            kept.append(word)
    return kept


def quiet_optuna() -> None:
    """Optuna's INFO lines (one per trial, between the sweep's own) only with --verbose. Optuna sets its level when
    imported, so it is set here after that."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_sweep(argv: list[str]) -> int:
    """The sweep's own options, then any `imitlm train` flags: they override the recipe's keys."""
    from transformers import HfArgumentParser

    from imitlm.arguments import SweepArguments
    from imitlm.sweep import check_space, load_space
    from imitlm.sweep import run_sweep as sweep
    from imitlm.training.parsing import load_recipe, parse_overrides
    from imitlm.validation import check_options, raise_user_errors

    description = f"{COMMANDS['sweep']} Any `imitlm train` flag given as well overrides the recipe's key of that name."
    # no abbreviations: `--seed 3` is a train flag, not the sweep's --seeds
    parser = HfArgumentParser(SweepArguments, prog="imitlm sweep", description=description, allow_abbrev=False)
    raise_user_errors(parser, "sweep")
    args, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True, look_for_args_file=False)
    check_options(args)
    own = [option for action in parser._actions for option in action.option_strings]
    overrides = parse_overrides(rest, command="sweep", also=own)
    space = load_space(args.space)
    both = sorted(set(overrides) & set(space))
    if both:
        raise UserError(f"--{both[0]} is given as a flag and searched in {args.space}; drop one of them")
    base = {**load_recipe(args.config), **overrides}
    check_space(space, base, source=args.space)
    result = sweep(
        base,
        space,
        metric=args.metric,
        trials=args.trials,
        output_dir=args.output_dir,
        num_eval_examples=args.num_eval_examples,
        seeds=args.seeds,
        sampler_seed=args.sampler_seed,
        validation_data=args.validation_data,
        validation_split=args.validation_split,
    )
    best = result["best"]
    if best is None:
        print(f"no trial completed; see {args.output_dir}/sweep.json")
        return 1
    print(f"best {args.metric} {best['value']:.4f} (trial {best['trial']}): {best['params']}; wrote {args.output_dir}")
    return 0


def run_evaluate(args) -> int:
    from imitlm.evaluation.commands import evaluate_command

    return evaluate_command(args)


def run_generate(args) -> int:
    from imitlm.evaluation.commands import generate_command

    return generate_command(args)


def run_rewards(args) -> int:
    from imitlm.evaluation.rewards import write_rewards

    write_rewards(args)
    return 0


def run_demo(args) -> int:
    from imitlm.demo import run_demo as demo
    from imitlm.training.run_lock import run_lock

    if args.quick and args.full:
        raise UserError("--quick and --full contradict each other; pass one of them")
    if args.model is not None:
        from imitlm.demo.pretrained import run_pretrained_demo

        if args.full or args.task != "arithmetic":
            raise UserError("--model runs both tasks from the pretrained model; drop --full and --task")
        output_dir = "runs/demo-model" if args.output_dir == "runs/demo" else args.output_dir
        with run_lock(output_dir, f"--output_dir {output_dir}"):
            run_pretrained_demo(args.model, quick=args.quick, output_dir=output_dir)
        return 0
    if args.task == "text":
        from imitlm.demo.text import run_text_demo

        if args.full:
            raise UserError("--full is the arithmetic demo's Llama base; drop it for --task text")
        output_dir = "runs/demo-text" if args.output_dir == "runs/demo" else args.output_dir
        with run_lock(output_dir, f"--output_dir {output_dir}"):
            run_text_demo(quick=args.quick, output_dir=output_dir)
        return 0
    with run_lock(args.output_dir, f"--output_dir {args.output_dir}"):
        demo(quick=args.quick, full=args.full, output_dir=args.output_dir)
    return 0


def run_bench(args) -> int:
    from imitlm.benchmarking.runner import SECTIONS
    from imitlm.benchmarking.runner import run_bench as bench

    sections = SECTIONS if args.only is None else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise UserError(f"--only: unknown measurement {unknown[0]!r}; use some of {','.join(SECTIONS)}")
    if args.model is not None and args.only is not None:
        raise UserError("--only selects sections of the tiny-model bench; --model runs the real-model sections")
    from imitlm.training.run_lock import run_lock

    with run_lock(args.output or ".", f"--output {args.output}", is_file=True, enabled=args.output is not None):
        result = bench(quick=args.quick, device=args.device, output=args.output, sections=sections, model=args.model)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
