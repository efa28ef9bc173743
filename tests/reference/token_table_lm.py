"""A fake causal LM whose logits at a position depend only on the input token there: ``logits[b, t] = table[x_bt]``.

Every quantity computed from it can be worked out by hand from ``table``: the log-probability of token ``y``
after token ``x`` is ``log_softmax(table[x])[y]``. Under the backspace generator the token fed after a
`<bksp>` is a copy of the new last token of the state, so the next action's logits are ``table[last token of
the state]`` in every case. It ignores attention masks, positions and the KV cache (returns none).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn


class TokenTableLM(nn.Module):
    def __init__(self, table: torch.Tensor, **config):
        super().__init__()
        self.table = nn.Parameter(table.float().clone(), requires_grad=False)  # (V, V): row = input token
        self.config = SimpleNamespace(**config)  # e.g. bksp_token_id=..., max_position_embeddings=...
        self.calls = 0

    @property
    def dtype(self) -> torch.dtype:
        return self.table.dtype

    def forward(self, input_ids: torch.Tensor, **unused) -> SimpleNamespace:
        self.calls += 1
        return SimpleNamespace(logits=self.table[input_ids], cache=None)  # (B, T, V)


def next_token_log_prob(table: torch.Tensor, previous: int, token: int) -> float:
    """``log softmax(table[previous])[token]`` in double precision, with an explicit log-sum-exp."""
    row = [float(v) for v in table[previous]]
    top = max(row)
    return row[token] - (top + math.log(sum(math.exp(v - top) for v in row)))
