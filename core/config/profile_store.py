"""The PACS profiles file: human-readable JSON with a schema version, written atomically.

The command line and the window share this one file. A file that cannot be read is reported
with its path and the reason (never a traceback), and is never overwritten silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.retrieve_method import stored_retrieve_method
from dicom_courier.core.config.small_files import UnusableFile, read_json_file
from dicom_courier.core.outcome.errors import CourierError, InvalidInput

SCHEMA_VERSION = 1


class SettingsFileError(CourierError):
    """The profiles file exists but cannot be used as it is."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The settings file {path} cannot be read: {reason}.",
            "DICOM Courier did not change the file.",
            "Fix the file by hand (it is JSON), or move it aside to start with no PACS profiles.",
            details={"File": str(path)},
        )


class NodeStore:
    """Load, change and save the PACS profiles in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What the last :meth:`load` could not use and replaced ("PACS 'x': retrieve method
        #: "fetch" must be move, get or auto; …"), for the person to see (``nodes list``).
        self.problems: list[str] = []

    def load(self) -> list[PacsNode]:
        """Every profile in the file ([] if there is none); raises SettingsFileError for a
        file that is not a small regular UTF-8 JSON file (a FIFO, a device, a folder, too
        large, nested too deeply) or that holds an invalid profile. Never blocks. A bad
        "retrieve" value costs that value only (``move`` is used; said in :attr:`problems`)."""
        self.problems = []
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise SettingsFileError(self.path, f"{self.path.parent} is a file, not a folder")
        try:
            data: Any = read_json_file(self.path)
        except FileNotFoundError:
            return []
        except UnusableFile as exc:
            raise SettingsFileError(self.path, exc.reason) from None
        except OSError as exc:
            raise SettingsFileError(self.path, exc.strerror or str(exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("pacs", []), list):
            raise SettingsFileError(self.path, 'expected an object with a "pacs" list')
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SettingsFileError(
                self.path, f"schema_version {version!r} is newer than this version understands"
            )
        nodes = []
        problems: list[str] = []
        for index, entry in enumerate(data.get("pacs", []), start=1):
            try:
                nodes.append(PacsNode.from_json(entry))
            except (InvalidInput, TypeError) as exc:
                raise SettingsFileError(self.path, f"PACS entry {index}: {exc}") from None
            problem = stored_retrieve_method(entry.get("retrieve", "move"))[1]
            if problem is not None:  # a bad value costs that value (from_json used "move")
                problems.append(f"PACS {nodes[-1].name!r}: {problem}")
        self.problems = problems
        return nodes

    def save(self, nodes: Iterable[PacsNode]) -> None:
        payload = {"schema_version": SCHEMA_VERSION, "pacs": [n.to_json() for n in nodes]}
        try:
            write_text_atomically(self.path,
                                  json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CourierError(
                f"The settings file {self.path} cannot be written: {exc.strerror or exc}.",
                "Nothing was changed.",
                f"Check that {self.path.parent} is a folder you may write to.",
                details={"File": str(self.path)},
                cli_action=f"Check that {self.path.parent} is a folder you may write to, or "
                           "choose another one with --config-dir.",
            ) from None

    def get(self, name: str) -> PacsNode:
        for node in self.load():
            if node.name.casefold() == name.strip().casefold():
                return node
        known = ", ".join(n.name for n in self.load()) or "none saved yet"
        raise InvalidInput("--pacs", f"no PACS profile named {name!r} (known: {known})")

    def put(self, node: PacsNode, *, replace: bool = True) -> bool:
        """Add ``node``, or replace the profile with the same name; True if one was replaced.

        With ``replace=False`` an existing name is refused (InvalidInput), never overwritten.
        """
        existing = self.load()
        kept = [n for n in existing if n.name.casefold() != node.name.casefold()]
        replaced = len(kept) != len(existing)
        if replaced and not replace:
            raise InvalidInput("name", f"a PACS profile named {node.name!r} exists already "
                               "(add --replace to overwrite it, or choose another name)")
        kept.append(node)
        self.save(kept)
        return replaced

    def remove(self, name: str) -> None:
        nodes = self.load()
        kept = [n for n in nodes if n.name.casefold() != name.strip().casefold()]
        if len(kept) == len(nodes):
            raise InvalidInput("name", f"no PACS profile named {name!r}")
        self.save(kept)
