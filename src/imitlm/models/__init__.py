"""Models: where they come from and how they load (`sources`, `loading`), the facts read off one (`facts`), the
output head for the chunked loss (`head`), and the training settings saved with a model (`settings`)."""

from imitlm.models.facts import add_backspace, bksp_id_of, model_dtype, model_max_length
from imitlm.models.head import check_head, hidden_and_head, output_head, unwrap_parallel
from imitlm.models.loading import (
    bpe_from_rows,
    check_model_dir,
    check_tokenizer_dir,
    ensure_special_tokens,
    load_model,
    load_pretrained,
    load_tokenizer,
    load_trained,
)
from imitlm.models.settings import SETTINGS_KEY, run_settings, save_run_settings, setting
from imitlm.models.sources import OFFLINE_MODELS, resolve_model_path

__all__ = [
    "OFFLINE_MODELS",
    "SETTINGS_KEY",
    "add_backspace",
    "bksp_id_of",
    "bpe_from_rows",
    "check_head",
    "check_model_dir",
    "check_tokenizer_dir",
    "ensure_special_tokens",
    "hidden_and_head",
    "load_model",
    "load_pretrained",
    "load_tokenizer",
    "load_trained",
    "model_dtype",
    "model_max_length",
    "output_head",
    "resolve_model_path",
    "run_settings",
    "save_run_settings",
    "setting",
    "unwrap_parallel",
]
