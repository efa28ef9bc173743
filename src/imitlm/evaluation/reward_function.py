"""The learned reward as a TRL reward function (``GRPOTrainer(reward_funcs=[RewardFunction(...)])``).

A model trained by an imitation preset defines the implicit reward r_t = Q(s_t, a_t) - gamma V(s_{t+1}) of each
token (docs/design.md, "The one objective"; docs/rewards.md says what it means). ``RewardFunction`` scores whole
completions with it: it is
called as TRL calls its reward functions, ``rf(prompts=[...], completions=[...], **kwargs) -> list[float]``, with
plain strings or conversational messages.
"""

from __future__ import annotations

import os

import torch

from imitlm.data.chat import render_completion, render_prompt
from imitlm.errors import UserError
from imitlm.evaluation.rewards import DEFAULT_GAMMA, score_rows
from imitlm.models import load_trained, setting

REDUCTIONS = ("sum", "mean")


class RewardFunction:
    """The implicit-reward return of each completion under a trained imitlm model.

    Args:
        model_or_path: a directory saved by ``imitlm train`` (model and tokenizer), or a model object (then pass
            ``tokenizer``).
        gamma: discount of the reward; default the one the model was trained with (0.998 if it has none).
        reduction: ``"sum"`` (the return, sum_t r_t over the completion and its EOS) or ``"mean"``: ``V(s_0)`` once
            plus the rest of the return per token, ``V(s_0) + (sum_t r_t - V(s_0)) / T``. A constant added to every
            logit (the same policy) moves either by the same amount for every completion at gamma = 1; the mean of
            the whole return would move a completion by that constant / T and re-rank completions of other lengths.
        q_temperature: tau of V = tau logsumexp(Q / tau); default the model's.
        batch_size: rows per forward pass, on the model's device.

    Not an ``nn.Module`` on purpose: TRL treats modules as sequence-classification reward models.
    """

    def __init__(
        self,
        model_or_path,
        *,
        tokenizer=None,
        gamma: float | None = None,
        reduction: str = "sum",
        q_temperature: float | None = None,
        batch_size: int = 32,
    ):
        if isinstance(model_or_path, (str, os.PathLike)):
            model, loaded_tokenizer = load_trained(str(model_or_path))
            tokenizer = tokenizer or loaded_tokenizer
        else:
            model = model_or_path
        if tokenizer is None:
            raise UserError("RewardFunction(model) needs tokenizer=...; or pass the directory the model was saved to")
        if reduction not in REDUCTIONS:
            raise UserError(f"unknown reduction {reduction!r}; use one of: {', '.join(REDUCTIONS)}")
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.gamma = setting(gamma, model, "gamma", DEFAULT_GAMMA)
        self.tau = setting(q_temperature, model, "q_temperature", 1.0)
        if not 0.0 < self.gamma <= 1.0:
            raise UserError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.tau <= 0.0:
            raise UserError(f"q_temperature must be > 0, got {self.tau}")
        self.reduction, self.batch_size = reduction, batch_size
        self.__name__ = "imitlm_reward"  # TRL logs each reward function under its __name__

    def score(self, prompts: list, completions: list) -> list[dict]:
        """One dict per completion: ``tokens``, per-token ``rewards`` (EOS last), ``return``, ``log_likelihood``,
        ``initial_value`` (``V(s_0)``)."""
        if len(prompts) != len(completions):
            raise UserError(f"got {len(prompts)} prompts but {len(completions)} completions; give one per completion")
        texts = [render_prompt(p, self.tokenizer) for p in prompts]
        answers = [render_completion(c) for c in completions]
        with torch.no_grad():
            return score_rows(
                self.model, self.tokenizer, texts, answers, gamma=self.gamma, tau=self.tau, batch_size=self.batch_size
            )

    def __call__(self, prompts: list, completions: list, **kwargs) -> list[float]:
        """TRL's reward-function call: one float per completion (``kwargs`` such as ``completion_ids`` unused)."""
        rows = self.score(prompts, completions)
        if self.reduction == "sum":
            return [row["return"] for row in rows]
        return [row["initial_value"] + (row["return"] - row["initial_value"]) / len(row["rewards"]) for row in rows]
