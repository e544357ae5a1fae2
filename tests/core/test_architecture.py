"""The design card's rules: the engine never loads Qt, and only core.signals may import QtCore."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import dicom_courier.core as core_package

CORE_DIR = Path(core_package.__file__).parent


def _core_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages([str(CORE_DIR)], "dicom_courier.core.")
    )


def test_engine_imports_without_loading_any_qt_module() -> None:
    modules = [m for m in _core_modules() if m != "dicom_courier.core.signals"]
    assert "dicom_courier.core.dimse.move" in modules  # the walk really found the engine
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "qt = ('PySide6', 'shiboken', 'qasync')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(qt))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"core loaded Qt: {out.stdout.strip()}"


def _qt_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "qasync")}


def test_only_core_signals_imports_qt_and_only_qtcore() -> None:
    offenders = {}
    for path in CORE_DIR.rglob("*.py"):
        qt = _qt_imports(path)
        if path.name == "signals.py" and path.parent == CORE_DIR:
            assert qt == {"PySide6.QtCore"}, f"core/signals.py imports {qt}"
        elif qt:
            offenders[str(path.relative_to(CORE_DIR))] = qt
    assert offenders == {}


def test_signals_module_loads_qtcore_but_not_qtwidgets() -> None:
    code = (
        "import sys, dicom_courier.core.signals\n"
        "print('PySide6.QtCore' in sys.modules, 'PySide6.QtWidgets' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "False"]


# ---------------------------------------------------------------- core never imports gui


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module an import statement in ``source`` names, relative ones resolved against
    ``package`` (the dotted package the file belongs to)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # from pkg import module
    return names


def _gui_imports(source: str, package: str) -> set[str]:
    return {name for name in _imported_modules(source, package)
            if name in ("gui", "dicom_courier.gui") or name.startswith(("gui.",
                                                                         "dicom_courier.gui."))}


def test_gui_import_check_finds_every_spelling() -> None:
    source = ("import dicom_courier.gui.app\n"
              "from dicom_courier.gui import queue_model\n"
              "from dicom_courier import gui\n"
              "from ..gui.app import App\n"
              "from .. import gui as window\n"
              "import gui\n"
              "from dicom_courier.core.dimse import engine\n"
              "from .errors import CourierError\n"
              "from ..core.cli import main\n")
    found = _gui_imports(source, "dicom_courier.core")  # a module directly in core/
    assert found == {"dicom_courier.gui.app", "dicom_courier.gui.queue_model",
                     "dicom_courier.gui", "dicom_courier.gui.app.App", "gui"}
    # one level deeper, ".." is the engine itself: not the window
    assert _gui_imports("from ..gui import x\n", "dicom_courier.core.cli") == set()
    assert _gui_imports("from ...gui import x\n", "dicom_courier.core.cli") == {
        "dicom_courier.gui", "dicom_courier.gui.x"}


def test_core_source_never_imports_gui() -> None:
    offenders: dict[str, set[str]] = {}
    for path in sorted(CORE_DIR.rglob("*.py")):
        relative = path.relative_to(CORE_DIR)
        package = ".".join(("dicom_courier.core", *relative.parent.parts))
        found = _gui_imports(path.read_text(encoding="utf-8"), package)
        if found:
            offenders[str(relative)] = found
    assert offenders == {}, f"core imports the window: {offenders}"


def test_importing_all_of_core_loads_no_gui_module() -> None:
    modules = _core_modules()
    assert "dicom_courier.core.signals" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('dicom_courier.gui'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"core loaded the window: {out.stdout.strip()}"
