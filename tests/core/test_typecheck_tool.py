""".ci/typecheck.py: mypy sees core/ as dicom_courier.core, and its report names real files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typecheck", ROOT / ".ci" / "typecheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tree_follows_the_package_dir_mapping(tmp_path: Path) -> None:
    tool = _tool()
    mapping = tool.package_dirs()
    assert mapping["dicom_courier.core"] == ROOT / "core"  # read from pyproject.toml
    tree = tmp_path / "tree"
    tool.build_tree(mapping, tree)
    package = tree / "dicom_courier"
    assert (package / "core" / "engine.py").resolve() == ROOT / "core" / "engine.py"
    assert (package / "core" / "cli" / "main.py").resolve() == ROOT / "core" / "cli" / "main.py"
    assert (package / "__init__.py").resolve() == ROOT / "packaging" / "dicom_courier" / \
        "__init__.py"
    assert (package / "py.typed").exists()  # PEP 561 marker of the installed package
    tool.build_tree(mapping, tree)  # rebuilt on every run: no "file exists"


def test_report_lines_name_the_repository_files(tmp_path: Path) -> None:
    tool = _tool()
    placed = tool.build_tree(tool.package_dirs(), tmp_path / "tree")
    line = f"{tmp_path}/tree/dicom_courier/core/cli/main.py:12: error: boom  [misc]"
    assert tool._readable(line, placed) == "core/cli/main.py:12: error: boom  [misc]"
    line = f"{tmp_path}/tree/dicom_courier/__init__.py:3: note: hm"
    assert tool._readable(line, placed) == "packaging/dicom_courier/__init__.py:3: note: hm"
    assert tool._readable("Found 2 errors in 1 file", placed) == "Found 2 errors in 1 file"
