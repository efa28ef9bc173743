"""The output head and its input, for the chunked loss (`objectives.chunked`): hidden states -> logits exactly as
the model's own forward computes them."""

from __future__ import annotations

import torch

from imitlm.errors import UserError


def output_head(model):
    """``hidden (..., H) -> logits`` as the model's forward computes them from its final hidden states: the output
    embedding module as it is (tied weights, LoRA or peft's trainable-token rows included), then the soft-capping
    (Gemma 2/3) or logit scaling (Cohere, Granite) its config declares. A plain `nn.Linear` without soft-capping is
    returned as `objectives.chunked.LinearHead` (the fused path). `hidden_and_head` checks the result against
    the model's own logits, so an architecture with another transform is refused rather than trained wrong."""
    head = model.get_output_embeddings()
    if head is None:
        raise UserError(
            "the chunked loss needs a model with an output embedding (get_output_embeddings()); "
            "use --chunked_loss false"
        )
    config = model.config
    scale = getattr(config, "logit_scale", None) if config.model_type.startswith("cohere") else None
    divide = getattr(config, "logits_scaling", None) if config.model_type.startswith("granite") else None
    cap = getattr(config, "final_logit_softcapping", None)
    if type(head) is torch.nn.Linear and cap is None:  # the fused path of objectives.chunked
        from imitlm.objectives.chunked import LinearHead

        return LinearHead(head.weight, head.bias, (scale or 1.0) / (divide or 1.0))

    def logits_of(hidden: torch.Tensor) -> torch.Tensor:
        logits = head(hidden)
        if scale is not None:
            logits = logits * scale
        if divide is not None:
            logits = logits / divide
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    return logits_of


def hidden_and_head(model, inputs: dict, check: bool = True):
    """``(outputs, hidden, head)``: one forward of ``model`` (through its own forward, so DDP's hooks run) that keeps
    the (B, T, H) input of the output head and computes logits at the last position only; ``head`` maps hidden
    states to logits (`output_head`). ``outputs.logits`` is (B, 1, V).

    The output module's input is taken by a forward pre-hook, which also cuts it to the last position: the model's
    forward then never builds (B, T, V) logits, whatever its own slicing arguments. ``check`` compares
    ``head(hidden[:, -1])`` with those last logits (a B x V product) and raises `UserError` where they differ.
    """
    base = unwrap_parallel(model)
    head = output_head(base)
    module = base.get_output_embeddings()
    captured = {}

    def keep_input(_module, args, kwargs):
        hidden = args[0]  # (B, T, H)
        captured["hidden"] = hidden
        return (hidden[:, -1:], *args[1:]), kwargs

    handle = module.register_forward_pre_hook(keep_input, with_kwargs=True)
    try:
        outputs = model(**inputs)
    finally:
        handle.remove()
    if "hidden" not in captured:
        raise UserError("the model's forward never called its output embedding; use --chunked_loss false")
    hidden = captured["hidden"]
    if check and not _has_active_dropout(module):
        check_head(outputs.logits[:, -1], hidden[:, -1], head)
    return outputs, hidden, head


def unwrap_parallel(model):
    """The model inside DDP / DataParallel (``.module``) or ``torch.compile`` (``._orig_mod``) wrappers.
    (accelerate's ``extract_model_from_parallel`` does this too, but imports DeepSpeed: seconds per process.)"""
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def _has_active_dropout(module) -> bool:
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 and m.training for m in module.modules())


def check_head(logits: torch.Tensor, hidden: torch.Tensor, head) -> None:
    """Refuse (one line) a model whose logits are not ``head(hidden)``: its forward transforms them in a way
    `output_head` does not know, and the chunked loss would train another function."""
    with torch.no_grad():
        got = head(hidden).float()
        expected = logits.float()
        tolerance = 1e-4 if logits.dtype == torch.float32 else 2e-2
        scale = float(expected.abs().max().clamp(min=1.0))
        if not torch.allclose(got, expected, rtol=tolerance, atol=tolerance * scale):
            raise UserError(
                "this architecture transforms its logits in a way the chunked loss does not reproduce (its last "
                f"logits differ by up to {float((got - expected).abs().max()):.3g}); use --chunked_loss false"
            )
