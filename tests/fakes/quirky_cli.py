"""One real CLI command (in process) against a fresh :class:`~tests.fakes.quirky.QuirkyPacs`
and a :class:`~dicom_courier.core.demo.workstation.Workstation` destination "WORKSTATION"."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from tests.fakes.quirky import QuirkyPacs


@dataclass
class CliRun:
    """What one command did: exit code, stdout, stderr, and the peers to inspect."""

    code: int
    out: str
    err: str
    pacs: QuirkyPacs
    ws: Workstation

    @property
    def flat(self) -> str:
        """stderr with every run of white space (line wraps) as one space."""
        return " ".join(self.err.split())

    @property
    def arrived(self) -> set[str]:
        """SOP Instance UIDs the workstation stored."""
        return self.ws.received_uids()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


class Runner(Protocol):
    def __call__(self, quirks: dict[str, Any], command: str, *argv: str,
                 studies: Sequence[StudySpec] | None = None) -> CliRun: ...


@contextmanager
def quirky_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
               default_studies: Sequence[StudySpec]) -> Iterator[Runner]:
    """Yields ``go(quirks, command, *argv, studies=None)``: runs ``dicom-courier command``
    with ``--host/--port/--aet`` of a fresh QuirkyPacs(``studies`` or ``default_studies``,
    **quirks) (``move`` also gets ``--dest WORKSTATION``); every peer started is stopped at
    the end."""
    with ExitStack() as stack:
        count = 0

        def go(quirks: dict[str, Any], command: str, *argv: str,
               studies: Sequence[StudySpec] | None = None) -> CliRun:
            nonlocal count
            count += 1
            chosen = studies or default_studies
            ws = stack.enter_context(Workstation(tmp_path / f"ws{count}"))
            pacs = stack.enter_context(QuirkyPacs(list(chosen), **quirks))
            pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
            dest = ["--dest", "WORKSTATION"] if command == "move" else []
            code = run(["--config-dir", str(tmp_path / "cfg"), command, "--host", "127.0.0.1",
                        "--port", str(pacs.port), "--aet", "QUIRKY", *dest, *argv])
            captured = capsys.readouterr()
            return CliRun(code, captured.out, captured.err, pacs, ws)

        yield go


@contextmanager
def quirky_rigs(folder: Path, studies: Sequence[StudySpec]) -> Iterator[
        Callable[..., tuple[PacsNode, QuirkyPacs, Workstation]]]:
    """Yields ``rig(**quirks)``: a fresh QuirkyPacs(``studies``, **quirks) that knows the
    destination "WORKSTATION" (a fresh Workstation under ``folder``), and a profile for it
    (idle timeout 5 s); every peer started is stopped at the end."""
    with ExitStack() as stack:
        started: list[QuirkyPacs] = []

        def rig(**quirks: Any) -> tuple[PacsNode, QuirkyPacs, Workstation]:
            ws = stack.enter_context(Workstation(folder / f"ws{len(started)}"))
            pacs = stack.enter_context(QuirkyPacs(list(studies), **quirks))
            started.append(pacs)
            pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
            node = PacsNode(name="quirky", called_aet="QUIRKY", host="127.0.0.1",
                            port=pacs.port, timeouts=Timeouts(idle=5))
            return node, pacs, ws

        yield rig
