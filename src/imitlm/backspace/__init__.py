"""The `<bksp>` action: vocab extension, one-pass layout, noise augmentation.

docs/design.md, "The `<bksp>` layout", "Noise augmentation".

The layout and augmentation import torch only; :mod:`imitlm.backspace.vocab` works on
transformers tokenizers and models (passed in; it does not import transformers itself).
"""

from imitlm.backspace.apply import apply_backspaces
from imitlm.backspace.augment import augment_with_noise, uniform_noise_sampler
from imitlm.backspace.layout import Layout, build_inputs, make_layout, target_counts
from imitlm.backspace.vocab import add_backspace_token, lora_config_with_bksp

__all__ = [
    "Layout",
    "add_backspace_token",
    "lora_config_with_bksp",
    "apply_backspaces",
    "augment_with_noise",
    "build_inputs",
    "make_layout",
    "target_counts",
    "uniform_noise_sampler",
]
