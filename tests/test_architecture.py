"""The architecture's rules, read off the source: which package may import which, function length, every preset
and divergence name spelled in one source file, and the public API at the package root."""

import ast
import sys
from pathlib import Path

import pytest

from imitlm.objectives import DIVERGENCES, PRESETS

SRC = Path(__file__).parents[1] / "src" / "imitlm"
# package -> packages of imitlm it must never import (docs/architecture.md)
FORBIDDEN = {
    "objectives": {"backspace", "data", "rollout", "training", "evaluation", "demo", "benchmarking", "tasks", "models"},
    "data": {"training", "evaluation", "rollout", "demo", "benchmarking"},
    "backspace": {"training", "evaluation", "rollout", "demo", "benchmarking", "data"},
    "rollout": {"training", "evaluation", "demo", "benchmarking"},
    "evaluation": {"training", "demo", "benchmarking"},
    "training": {"evaluation", "demo", "benchmarking"},
    "tasks": {"training", "evaluation", "demo", "benchmarking", "rollout"},
    "reporting": {"objectives", "backspace", "data", "rollout", "training", "evaluation", "demo", "benchmarking"},
}


def source_files():
    return sorted(SRC.rglob("*.py"))


def imitlm_imports(path: Path) -> set[str]:
    """Second-level packages of imitlm imported anywhere in the file (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "imitlm" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package):
    for path in (SRC / package).rglob("*.py"):
        wrong = imitlm_imports(path) & FORBIDDEN[package]
        assert not wrong, f"{path.relative_to(SRC)} imports imitlm.{sorted(wrong)}"


def test_reporting_never_imports_torch():
    for path in (SRC / "reporting").rglob("*.py"):
        modules = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m and m.split(".")[0] == "torch" for m in modules), path


def test_no_function_over_120_lines():
    long = []
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 120:
                    long.append(f"{path.relative_to(SRC)}:{node.name} ({length} lines)")
    assert not long, long


@pytest.mark.parametrize("name", sorted(set(PRESETS) | set(DIVERGENCES)))
def test_each_name_is_spelled_in_one_source_file(name):
    files = {
        str(path.relative_to(SRC))
        for path in source_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value == name
    }
    assert len(files) == 1, f"{name!r} is written in {sorted(files)}"


def test_public_api_at_the_root():
    import imitlm
    from imitlm import (  # noqa: F401
        DIVERGENCES,
        PRESETS,
        ImitationTrainer,
        ImitConfig,
        generate_with_backspace,
        get_preset,
        imitation_loss,
    )

    assert ImitationTrainer.__module__ == "imitlm.training.trainer"
    assert get_preset("iqlearn").use_il
    for name in imitlm.__all__:
        assert getattr(imitlm, name) is not None
    with pytest.raises(AttributeError):
        imitlm.not_a_name  # noqa: B018


@pytest.mark.slow
def test_reporting_import_stays_light():
    import subprocess

    code = "import sys, imitlm.reporting.report; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
