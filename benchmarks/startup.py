"""Start-up time: process start -> first painted main window, and ``dicom-courier --help``.

Not a test: nothing here asserts on a time, and pytest never collects it. Run it from the
repository root::

    .venv/bin/python benchmarks/startup.py               # 3 repeats of each row
    .venv/bin/python benchmarks/startup.py --repeats 7

Rows (seconds, wall clock, one fresh process per sample, offscreen Qt platform):

* ``first_paint_courier_s``: process start -> the first paint event delivered to DICOM
  Courier's main window, started as ``dicom-courier --config-dir DIR`` would start it
  (``dicom_courier.__main__.main``) on a profile folder holding one saved PACS profile.
* ``first_paint_bare_pyside6_s``: the same for a bare ``QMainWindow`` (the floor: Python,
  PySide6 and Qt's own start).
* ``help_s``: ``dicom-courier --help`` (the installed entry script), whole process, from
  just before the fork to its exit.

Both first-paint rows are measured the same way: the parent reads ``time.monotonic()``
(CLOCK_MONOTONIC, system-wide on Linux) just before starting the child and passes it in the
environment; the child is a small wrapper (:data:`_WRAPPER`) that creates the QApplication,
installs an event filter that notes the monotonic time of the first ``QEvent.Paint`` delivered
to a ``QMainWindow``, then runs the window's real start. On the first paint it prints one line
and closes the window (the product's normal shutdown runs, untimed). The product has no
benchmark hook. Creating the QApplication in the wrapper moves no work: the product creates
it (``QApplication.instance() or QApplication(...)``) at the same point of its start anyway.

Samples of the three rows are interleaved (bare, courier, help; then again), so background load
hits all of them alike. The last line of stdout is one JSON object (benchmarks contract):
``{"measure": "startup", "unit": "s", "repeats": N, "rows": {...}, "info": {...}}``; progress
goes to stderr. ``info`` records which heavy modules were already imported at the first paint
(e.g. ``pynetdicom``) and the module count, so a regression is visible, not only slower.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Modules whose presence at the first paint (or after --help) means work that could wait.
WATCHED_MODULES = ("pynetdicom", "pydicom", "pydicom.pixels", "pydicom.datadict", "asyncio",
                   "sqlite3", "rich", "rich.progress", "ssl", "qasync")

#: The child: ``python -c _WRAPPER <mode> <config-dir>``; mode "courier" or "bare".
_WRAPPER = r"""
import json, os, sys, time
T0 = float(os.environ["COURIER_STARTUP_T0"])
MODE, CONFIG = sys.argv[1], sys.argv[2]
WATCHED = os.environ["COURIER_STARTUP_WATCHED"].split(",")
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    done = False

    def eventFilter(self, obj, event):
        if (not self.done and event.type() == QEvent.Type.Paint
                and isinstance(obj, QMainWindow)):
            self.done = True
            seconds = time.monotonic() - T0
            loaded = [name for name in WATCHED if name in sys.modules]
            cpu = time.process_time()
            print("STARTUP " + json.dumps([seconds, loaded, len(sys.modules), cpu]), flush=True)
            QTimer.singleShot(0, obj.close)
        return False

app = QApplication(sys.argv[:1])
spy = FirstPaint()
app.installEventFilter(spy)
if MODE == "bare":
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.show()
    app.exec()
    app.shutdown()
    sys.exit(0)
from dicom_courier.__main__ import main
sys.exit(main(["--config-dir", CONFIG]))
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: ``--tree DIR``: import ``dicom_courier`` from DIR instead of the installed package.
_TREE: list[str] = []


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    if _TREE:  # ahead of the editable install's finder, which comes after sys.path
        env["PYTHONPATH"] = os.pathsep.join([*_TREE, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["COURIER_STARTUP_WATCHED"] = ",".join(WATCHED_MODULES)
    env.pop("DICOM_COURIER_CONFIG_DIR", None)
    # As installed: compiled modules are cached (.pyc). With PYTHONDONTWRITEBYTECODE set, every
    # module edited since its last .pyc would be compiled again in every sample.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def prepare_profile(folder: Path) -> None:
    """A profile folder as a configured user has it: one saved PACS profile (nodes.json)."""
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from dicom_courier.core.config.paths import app_paths\n"
            "from dicom_courier.core.config.profile_store import NodeStore\n"
            "from dicom_courier.core.config.profiles import Destination, PacsNode\n"
            "NodeStore(app_paths(sys.argv[1]).nodes_file).put(PacsNode(\n"
            "    name='Main PACS', called_aet='ORTHANC', host='127.0.0.1', port=4242,\n"
            "    destinations=(Destination('WORKSTATION'),)))\n")
    subprocess.run([sys.executable, "-c", code, str(folder)], env=_child_env(), check=True)


def first_paint(mode: str, config_dir: Path) -> tuple[float, list[str], int, float]:
    """One fresh process: (seconds to the first paint, watched modules loaded, module count,
    CPU seconds the process had used by then: less sensitive to other load than wall time).

    Raises RuntimeError if the child did not report a paint (a failed start must not look
    fast)."""
    env = _child_env()
    env["COURIER_STARTUP_T0"] = repr(time.monotonic())
    done = subprocess.run([sys.executable, "-c", _WRAPPER, mode, str(config_dir)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    for text in done.stdout.splitlines():
        if text.startswith("STARTUP "):
            seconds, loaded, count, cpu = json.loads(text[len("STARTUP "):])
            return float(seconds), list(loaded), int(count), float(cpu)
    raise RuntimeError(f"{mode}: no first paint (exit {done.returncode}): "
                       f"{done.stderr.strip()[-2000:]}")


def _entry_script() -> list[str]:
    script = Path(sys.executable).parent / "dicom-courier"
    if _TREE or not script.exists():  # the same two lines as the entry script, other tree
        return [sys.executable, "-c", "import sys; from dicom_courier.__main__ import main; "
                "sys.exit(main())"]
    return [str(script)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def help_time() -> tuple[float, float]:
    """(wall, CPU) seconds of one ``dicom-courier --help`` process; raises on a non-zero
    exit."""
    command = [*_entry_script(), "--help"]
    cpu_before = _children_cpu()
    started = time.monotonic()
    done = subprocess.run(command, env=_child_env(), capture_output=True, text=True,
                          timeout=60, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0 or "usage: dicom-courier" not in done.stdout:
        raise RuntimeError(f"--help failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return seconds, _children_cpu() - cpu_before


def help_modules() -> list[str]:
    """Watched modules imported by the time ``--help`` has printed (one untimed run)."""
    code = ("import sys\nfrom dicom_courier.__main__ import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import json\n"
            f"print(json.dumps([m for m in {list(WATCHED_MODULES)!r} if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], env=_child_env(), capture_output=True,
                          text=True, timeout=60, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def python_floor() -> float:
    """Wall time (s) of ``python -c pass``: the interpreter's own start."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="samples per row (default 3)")
    parser.add_argument("--config-dir", type=Path,
                        help="start the window on this profile folder (default: a temporary "
                        "one with one saved PACS profile)")
    parser.add_argument("--tree", type=Path,
                        help="import dicom_courier from this folder (a package layout, e.g. an "
                        "older version to compare with) instead of the installed one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure; print progress to stderr and the JSON result as the last line of stdout."""
    args = parse_args(argv)
    _TREE[:] = [str(args.tree.resolve())] if args.tree else []
    rows: dict[str, list[float]] = {"first_paint_courier_s": [],
                                    "first_paint_bare_pyside6_s": [], "help_s": []}
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": "offscreen",
                            "tree": _TREE[0] if _TREE else "installed package",
                            "load_average_at_start": os.getloadavg()}
    cpu: dict[str, list[float]] = {"courier": [], "bare": [], "help": []}
    with tempfile.TemporaryDirectory(prefix="courier-startup-") as scratch:
        config_dir = args.config_dir or Path(scratch) / "profile"
        if args.config_dir is None:
            prepare_profile(config_dir)
        first_paint("courier", config_dir)  # warm the file cache, write .pyc files (untimed)
        first_paint("bare", config_dir)
        help_time()
        for index in range(args.repeats):
            bare, _, bare_modules, bare_cpu = first_paint("bare", config_dir)
            courier, loaded, modules, courier_cpu = first_paint("courier", config_dir)
            cpu["courier"].append(round(courier_cpu, 4))
            cpu["bare"].append(round(bare_cpu, 4))
            helped, help_cpu = help_time()
            cpu["help"].append(round(help_cpu, 4))
            rows["first_paint_bare_pyside6_s"].append(round(bare, 4))
            rows["first_paint_courier_s"].append(round(courier, 4))
            rows["help_s"].append(round(helped, 4))
            info["modules_at_first_paint_courier"] = modules
            info["modules_at_first_paint_bare"] = bare_modules
            info["watched_loaded_at_first_paint"] = loaded
            _log(f"round {index + 1}/{args.repeats}: first paint courier {courier:.3f} s "
                 f"(CPU {courier_cpu:.3f} s), bare {bare:.3f} s (CPU {bare_cpu:.3f} s); "
                 f"--help {helped:.3f} s (CPU {help_cpu:.3f} s)")
        info["cpu_to_first_paint_courier_s"] = cpu["courier"]
        info["cpu_to_first_paint_bare_s"] = cpu["bare"]
        info["cpu_help_s"] = cpu["help"]
        info["watched_loaded_after_help"] = help_modules()
        info["python_c_pass_s"] = round(min(python_floor() for _ in range(3)), 4)
    info["load_average_at_end"] = os.getloadavg()
    for name, samples in rows.items():
        _log(f"{name}: min {min(samples):.3f} median {statistics.median(samples):.3f} "
             f"max {max(samples):.3f}")
    print(json.dumps({"measure": "startup", "unit": "s", "repeats": args.repeats,
                      "rows": rows, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
