"""The training log as `imitlm train` shows it: one line per logging step with the loss and the few terms that matter
for the preset, as numbers. The Trainer's log history (log_history.json) and its reporters (TensorBoard) keep every
term; only the printed line is shortened."""

from __future__ import annotations

from transformers import PrinterCallback, ProgressCallback, TrainerCallback

from imitlm.objectives import get_preset

# Printed name of each logged key, in the order shown.
IMITATION_TERMS = {
    "objective/mle": "nll",  # L_MLE, the data negative log-likelihood
    "objective/divergence_term": "divergence",
    "objective/value": "value",
    "objective/td": "td",
}
ROLLOUT_TERMS = {"rollout/length": "rollout length"}
BACKSPACE_ROLLOUT_TERMS = {"rollout/backspace_rate": "rollout <bksp> rate"}


def shown_terms(preset_name: str) -> dict[str, str]:
    """Logged key -> printed name for ``preset_name``: the loss and learning rate always; the MLE and the parts of
    the imitation loss when the preset has one (its loss is their weighted sum); rollout statistics when online."""
    preset = get_preset(preset_name)
    terms = {"loss": "loss", "learning_rate": "lr"}
    if preset.use_il:
        terms.update(IMITATION_TERMS)
    if preset.online:
        terms.update(ROLLOUT_TERMS)
        if preset.backspace:
            terms.update(BACKSPACE_ROLLOUT_TERMS)
    return terms


def log_line(logs: dict, step: int, max_steps: int, terms: dict[str, str]) -> str | None:
    """``step 20/100: loss 1.234, lr 0.0003, ...``; evaluation logs as ``eval_*`` terms; None for other logs (the
    end-of-training totals, which `imitlm train`'s summary says in words)."""
    if "loss" in logs:
        shown = [(name, logs[key]) for key, name in terms.items() if key in logs]
    else:
        shown = [(key, value) for key, value in logs.items() if key.startswith("eval_") and "per_second" not in key]
    if not shown:
        return None
    numbers = ", ".join(
        f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}" for name, value in shown
    )
    return f"step {step}/{max_steps}: {numbers}"


class ShortProgress(ProgressCallback):
    """The Trainer's progress bar, printing `log_line` above it instead of the whole log dict."""

    def __init__(self, terms: dict[str, str]):
        super().__init__()
        self.terms = terms

    def on_log(self, args, state, control, logs=None, **kwargs):
        line = log_line(logs or {}, state.global_step, state.max_steps, self.terms)
        if state.is_world_process_zero and self.training_bar is not None and line:
            self.training_bar.write(line)


class ShortPrinter(TrainerCallback):
    """Without a progress bar (--disable_tqdm): `log_line` printed."""

    def __init__(self, terms: dict[str, str]):
        self.terms = terms

    def on_log(self, args, state, control, logs=None, **kwargs):
        line = log_line(logs or {}, state.global_step, state.max_steps, self.terms)
        if state.is_world_process_zero and line:
            print(line, flush=True)


def show_short_logs(trainer) -> None:
    """Swap the Trainer's log printer (progress bar or plain printer) for the short one."""
    terms = shown_terms(trainer.args.objective)
    for default, short in ((ProgressCallback, ShortProgress), (PrinterCallback, ShortPrinter)):
        if trainer.pop_callback(default) is not None:
            trainer.add_callback(short(terms))
