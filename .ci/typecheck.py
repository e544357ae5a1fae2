"""Run strict mypy on the engine as the package it is installed as, ``dicom_courier.core``.

The import package is assembled from top-level folders by ``[tool.setuptools.package-dir]`` in
``pyproject.toml`` (``core/`` is ``dicom_courier.core``). An editable install maps them with an
import hook, which mypy cannot follow, and ``core/`` imports itself as ``dicom_courier.core``. So
this script lays the same mapping out as symlinks under ``build/mypy-tree/`` (rebuilt on every run,
so new modules are seen at once), runs mypy with that folder as its search path, and rewrites the
paths in mypy's report back to the files in the repository
(``core/dimse/engine.py:12: error: ...``).
mypy's settings (strict, per-module overrides) are in ``[tool.mypy]`` in ``pyproject.toml``.

Usage: ``python .ci/typecheck.py [PACKAGE ...]`` (default ``dicom_courier.core``); any argument
starting with ``-`` is passed to mypy. Exit status is mypy's: 0 clean, 1 type errors, 2 usage error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "mypy-tree"
DEFAULT_PACKAGES = ("dicom_courier.core",)


def package_dirs(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, Path]:
    """Return import package name -> source folder, from ``[tool.setuptools.package-dir]``."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name: (ROOT / folder).resolve() for name, folder in mapping.items()}


def build_tree(mapping: dict[str, Path], tree: Path = TREE) -> dict[Path, Path]:
    """Lay ``mapping`` out as symlinks under ``tree``; return tree folder -> source folder.

    A package with no mapped sub-package is one symlink to its folder; a package that has one (the
    root ``dicom_courier``) is a real folder holding a symlink per entry of its source folder.
    """
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    placed: dict[Path, Path] = {}
    for name in sorted(mapping, key=lambda n: n.count(".")):
        source, target = mapping[name], tree.joinpath(*name.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        children = {n.rsplit(".", 1)[1] for n in mapping if n.startswith(name + ".")}
        if children:
            target.mkdir(exist_ok=True)
            for entry in source.iterdir():
                if entry.name not in children and entry.name != "__pycache__":
                    (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(source, target_is_directory=True)
        placed[target] = source
    return placed


def _readable(line: str, placed: dict[Path, Path]) -> str:
    """Rewrite a tree path at the start of a mypy report line to the repository's path."""
    for target, source in sorted(placed.items(), key=lambda kv: -len(str(kv[0]))):
        for prefix in (str(target) + os.sep, os.path.relpath(target, ROOT) + os.sep):
            if line.startswith(prefix):
                real = source / line[len(prefix):].split(":", 1)[0]
                rel = os.path.relpath(real, ROOT)
                return rel + line[len(prefix) + len(os.path.relpath(real, source)):]
    return line


def main(argv: list[str]) -> int:
    """Build the tree, run mypy on the packages in ``argv``; return mypy's exit status."""
    options = [a for a in argv if a.startswith("-")]
    packages = [a for a in argv if not a.startswith("-")] or list(DEFAULT_PACKAGES)
    placed = build_tree(package_dirs())
    env = dict(os.environ, MYPYPATH=str(TREE))
    command = [sys.executable, "-m", "mypy", *options]
    for package in packages:
        command += ["-p", package]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    for line in done.stdout.splitlines():
        print(_readable(line, placed))
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
