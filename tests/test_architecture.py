"""The architecture's rules, read off the source: which package may import which, function length, comments that
point into the repository's own design document, every preset and divergence name spelled in one source file, and
the public API at the package root."""

import ast
import dataclasses
import re
import sys
from pathlib import Path

import pytest

from imitlm.objectives import DIVERGENCES, PRESETS

SRC = Path(__file__).parents[1] / "src" / "imitlm"
# package -> packages of imitlm it must never import (docs/architecture.md)
FORBIDDEN = {
    "objectives": {"backspace", "data", "rollout", "training", "evaluation", "demo", "benchmarking", "tasks", "models"},
    "data": {"training", "evaluation", "rollout", "demo", "benchmarking", "tasks"},
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


MAX_FUNCTION_LINES = 80


def function_lengths():
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(SRC)}:{node.name}", node.end_lineno - node.lineno + 1


def test_no_function_over_80_lines():
    long = [f"{name} ({length} lines)" for name, length in function_lengths() if length > MAX_FUNCTION_LINES]
    assert not long, long


def test_comments_point_into_docs_design():
    """Comments cite docs/design.md (by section title) or code paths, never a design document outside the repo."""
    citing = {str(path.relative_to(SRC)) for path in source_files() if "DESIGN sec" in path.read_text()}
    assert not citing, sorted(citing)


def test_design_sections_cited_in_src_exist():
    """Every `docs/design.md, "Title", "Title"` in src/ names headings of docs/design.md."""
    design = (SRC.parents[1] / "docs" / "design.md").read_text()
    headings = {line.lstrip("#").strip() for line in design.splitlines() if line.startswith("#")}
    cited = set()
    for path in source_files():
        text = " ".join(path.read_text().split())  # a title may wrap across lines
        for titles in re.findall(r'docs/design\.md, ((?:"[^"]+"(?:, )?)+)', text):
            cited |= set(re.findall(r'"([^"]+)"', titles))
    assert cited, "no section of docs/design.md is cited"
    assert cited <= headings, sorted(cited - headings)


def test_each_imitlm_option_is_documented_and_grouped_beside_its_field():
    """ImitConfig's own fields carry their help and help section in their metadata (the lists are derived from it);
    the keys beside ``help`` name sections and conditions that exist."""
    from imitlm.training.config import HELP_TITLES, IMITLM_METADATA, READ_WHEN, ImitConfig

    internal = {"remove_unused_columns"}  # kept False for the collator; not an option to set
    own = [f for f in dataclasses.fields(ImitConfig) if f.name in vars(ImitConfig)["__annotations__"]]
    assert len(own) > 30  # the model, data, objective, rollout and run options
    for field in own:
        assert field.metadata.get("help"), field.name
        assert field.name in internal or field.metadata.get("group") in HELP_TITLES, field.name
        assert field.metadata.get("read_when", next(iter(READ_WHEN))) in READ_WHEN, field.name
        assert set(field.metadata) <= {"help", "choices", *IMITLM_METADATA}, field.name


def test_cli_only_parses_and_dispatches():
    """No command's work in cli.py: every function there is short (the work lives in the command's package)."""
    tree = ast.parse((SRC / "cli.py").read_text())
    long = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 45]
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
