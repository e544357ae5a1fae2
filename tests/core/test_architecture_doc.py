"""docs/architecture.md cannot rot: it names every module of core/ and gui/, names only modules
and tests that exist, and the engine's layers import only downwards, as it says."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.core.test_architecture import _imported_modules

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"

#: A module path as the doc writes it: ``core/dimse/move.py``, ``gui/app.py`` (not a path that
#: merely ends in one, such as ``tests/core/test_x.py``).
_MODULE = re.compile(r"(?<![\w/.])((?:core|gui)/(?:\w+/)*\w+\.py)\b")
_TEST_FILE = re.compile(r"(?<![\w/.])(tests/(?:\w+/)*test_\w+\.py)\b")
_TEST_NAME = re.compile(r"::(test_\w+)")


def _doc() -> str:
    assert DOC.is_file(), f"{DOC} is missing"
    return DOC.read_text(encoding="utf-8")


def _modules_on_disk() -> set[str]:
    """Every .py module under core/ and gui/ (``__init__.py`` excepted), as ``core/x/y.py``."""
    return {path.relative_to(REPO).as_posix()
            for top in ("core", "gui") for path in (REPO / top).rglob("*.py")
            if path.name != "__init__.py" and "__pycache__" not in path.parts}


def _modules_named(text: str) -> set[str]:
    return set(_MODULE.findall(text))


def test_the_doc_parser_finds_module_paths_and_only_them() -> None:
    text = ("`core/dimse/move.py` and core/signals.py, `gui/app.py: run_app`; "
            "not tests/core/test_queue.py, packaging/dicom_courier/__main__.py or "
            "dicom_courier/core/x.py")
    assert _modules_named(text) == {"core/dimse/move.py", "core/signals.py", "gui/app.py"}
    assert _TEST_FILE.findall(text) == ["tests/core/test_queue.py"]


def test_every_module_of_core_and_gui_has_its_line() -> None:
    on_disk = _modules_on_disk()
    assert {"core/dimse/move.py", "core/signals.py", "gui/queue_model.py"} <= on_disk
    missing = sorted(on_disk - _modules_named(_doc()))
    assert missing == [], f"docs/architecture.md does not name: {missing}"


def test_every_module_the_doc_names_exists() -> None:
    named = _modules_named(_doc())
    assert "core/dimse/move.py" in named  # the parser really read the tables
    gone = sorted(m for m in named if not (REPO / m).is_file())
    assert gone == [], f"docs/architecture.md names modules that do not exist: {gone}"


def test_every_test_the_doc_cites_exists() -> None:
    text = _doc()
    files = sorted(set(_TEST_FILE.findall(text)))
    assert files, "the doc cites the tests that keep its rules"
    gone = [f for f in files if not (REPO / f).is_file()]
    assert gone == [], f"docs/architecture.md cites missing test files: {gone}"
    defined: set[str] = set()
    for name in files:
        tree = ast.parse((REPO / name).read_text(encoding="utf-8"))
        defined.update(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))
    cited = set(_TEST_NAME.findall(text))
    assert cited - defined == set(), f"cited tests that do not exist: {sorted(cited - defined)}"


# ---------------------------------------------------------------- the layers, as the doc says

_LOOKUPS = frozenset({"qr.key_search", "qr.resolve", "qr.uid_lookup", "qr.uid_targets"})


def _layer(module: str) -> str:
    """The doc's layer of a core module given relative to core (``dimse.move``)."""
    if module in _LOOKUPS:
        return "lookups"
    top = module.split(".")[0]
    if top in ("outcome", "text", "config", "qr"):
        return "values"
    return top  # dimse, jobs, cli, demo, signals


def _core_imports(path: Path) -> set[str]:
    """The core modules ``path`` imports anywhere (lazy imports too), relative to core."""
    relative = path.relative_to(REPO / "core")
    package = ".".join(("dicom_courier.core", *relative.parent.parts))
    names = _imported_modules(path.read_text(encoding="utf-8"), package)
    found = set()
    for name in names:
        if name.startswith("dicom_courier.core."):
            dotted = name.removeprefix("dicom_courier.core.")
            if (REPO / "core" / f"{dotted.replace('.', '/')}.py").is_file():
                found.add(dotted)
    return found


def _layer_violations() -> list[str]:
    allowed = {
        "values": {"values"},
        "dimse": {"values", "dimse"},
    }
    only_from = {"cli": {"cli"}, "demo": {"cli", "demo"}, "signals": set()}
    problems = []
    for path in sorted((REPO / "core").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        module = ".".join(path.relative_to(REPO / "core").with_suffix("").parts)
        layer = _layer(module)
        for target in sorted(_core_imports(path)):
            to = _layer(target)
            if (layer in allowed and to not in allowed[layer]) or \
                    (to in only_from and layer not in only_from[to]):
                problems.append(f"{module} ({layer}) imports {target} ({to})")
    return problems


def test_engine_layers_import_only_downwards() -> None:
    assert _layer("qr.query") == "values" and _layer("qr.resolve") == "lookups"
    assert "dimse.channel" in _core_imports(REPO / "core" / "dimse" / "move.py")
    assert _layer_violations() == []
