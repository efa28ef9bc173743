"""Conversational rows in TRL's formats: a prompt or completion given as a list of ``{"role", "content"}``
messages is rendered to text with the tokenizer's own chat template (transformers' ``apply_chat_template``)."""

from __future__ import annotations

from imitlm.errors import UserError


def is_conversational(value) -> bool:
    """True for a list of ``{"role": ..., "content": ...}`` messages (TRL's conversational format)."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def render_prompt(prompt, tokenizer) -> str:
    """A prompt as text: strings pass through; messages go through the chat template with the generation prompt
    (the assistant turn header) appended, so the completion continues the assistant's turn."""
    if not is_conversational(prompt):
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            "conversational data (lists of role/content messages) needs a tokenizer with a chat template; "
            "set tokenizer.chat_template or give prompt/completion as plain strings"
        )
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def render_completion(completion) -> str:
    """A completion as text: strings pass through; assistant messages give their contents, joined."""
    if not is_conversational(completion):
        return completion
    return "".join(str(message.get("content", "")) for message in completion)
