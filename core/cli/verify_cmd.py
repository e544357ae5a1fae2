"""``move --verify``: after each move, ask the destination what arrived (issue 13 §3).

The destination must be saved in the PACS profile with its address and marked queryable
(``nodes add … --dest WS3@HOST:PORT --queryable-dest WS3``); otherwise ``--verify`` is refused
before anything is sent, with how to configure it. Each move is followed by one line:
"verified at destination: 120/120" or "destination has 1 of 8 after 30 s"; a send that is not
verified exits 3 (partly completed), never 0. The check follows the one rule the queue uses
(:mod:`..outcome.arrival_rule`) and is recorded with the job (``SendRecorder.checked``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol

from dicom_courier.core.cli.safe_text import literal
from dicom_courier.core.config.app_settings import AppSettings, load_app_settings
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.core.qr.query import MoveTarget
from dicom_courier.core.text.safe_text import json_text

if TYPE_CHECKING:  # the engine loads when a send starts
    from dicom_courier.core.dimse.engine import Courier


def verified_destination(pacs: PacsNode, destination: str) -> Destination:
    """The saved destination ``destination`` of ``pacs``, if the arrival check can ask it.

    Raises InvalidInput naming ``--verify`` and saying how to configure it: no profile (an
    address given with --host/--port/--aet), not saved, no address, not queryable.
    """
    saved = next((d for d in pacs.destinations if d.ae_title == destination), None)
    how = (f"save it in the PACS profile with its address and mark it queryable: "
           f"dicom-courier nodes add {pacs.name} … --dest {destination}@HOST:PORT "
           f"--queryable-dest {destination} --replace")
    if saved is None:
        raise InvalidInput("--verify", f"needs the destination {destination} saved in a PACS "
                           f"profile (--pacs NAME), to ask it what arrived; {how}")
    if saved.host is None or saved.port is None:
        raise InvalidInput("--verify", f"cannot ask {destination} what arrived: its address "
                           f"is not saved; {how}")
    if not saved.queryable:
        raise InvalidInput("--verify", f"cannot ask {destination} what arrived: it is not "
                           f"marked as answering queries (C-FIND); if it does, {how}")
    return saved


def arrival_settings(config_dir: str | None) -> AppSettings:
    """``arrival_wait`` and ``arrival_interval`` (seconds) from settings.json; never raises."""
    return load_app_settings(app_paths(config_dir).settings_file)


class SendCheck(Protocol):
    """What ``move`` asks after each move (:class:`ArrivalVerifier` for ``--verify``,
    :class:`.move_here_cmd.HereVerifier` for ``--dest @here``): the check, its words for the
    summary, and what the job row records."""

    checks: list[ArrivalCheck]

    @property
    def all_verified(self) -> bool: ...

    def summary(self) -> str: ...

    async def after(self, target: MoveTarget, result: MoveResult) -> ArrivalCheck: ...

    def arrived(self, target: MoveTarget) -> tuple[int | None, str | None]: ...


class ArrivalVerifier:
    """Runs the arrival check after each move of one ``move --verify`` and reports it.

    ``wait``/``interval`` in seconds (:func:`.dimse.arrival_check.check_arrival`).
    """

    def __init__(self, courier: Courier, pacs: PacsNode, dest: Destination, *,
                 wait: float, interval: float, as_json: bool) -> None:
        self.courier, self.pacs, self.dest = courier, pacs, dest
        self.wait, self.interval, self.as_json = wait, interval, as_json
        self.checks: list[ArrivalCheck] = []

    @property
    def all_verified(self) -> bool:
        """True when every check made found every expected image."""
        return all(check.verified for check in self.checks)

    def summary(self) -> str:
        """The checks in one phrase for the summary line: the one check's words, or
        "verified at destination: 3 of 3 moves" / "at destination: 1 of 3 moves verified"."""
        if len(self.checks) == 1:
            return self.checks[0].words()
        verified = sum(check.verified for check in self.checks)
        if verified == len(self.checks):
            return f"verified at destination: {verified} of {verified} moves"
        return f"at destination: {verified} of {len(self.checks)} moves verified"

    async def after(self, target: MoveTarget, result: MoveResult) -> ArrivalCheck:
        """Check what ``result`` (the move of ``target``) delivered, print it, keep it.
        Raises nothing for a network fault (the check's ``error``)."""
        check = await self._check(target, result)
        self.checks.append(check)
        if self.as_json:
            sys.stdout.write(json_text(_json_of(target, check)) + "\n")
            sys.stdout.flush()
        else:
            from dicom_courier.core.cli.render import stderr

            stderr.print(literal(f"{self.dest.ae_title}: {check.words()}"))
        return check

    def arrived(self, target: MoveTarget) -> tuple[int | None, str | None]:
        """(received, folder) for the job row: nothing is received on this computer."""
        return None, None

    async def _check(self, target: MoveTarget, result: MoveResult) -> ArrivalCheck:
        """The one rule the queue uses too (:func:`.dimse.arrival_check.check_send`)."""
        from dicom_courier.core.dimse.arrival_check import check_send

        return await check_send(self.courier, self.pacs, self.dest, target, result,
                                wait=self.wait, interval=self.interval)


def _json_of(target: MoveTarget, check: ArrivalCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "arrival", "study_uid": target.study_uid,
                           "destination": check.where, "verified": check.verified,
                           "expected": check.expected, "found": check.found,
                           "waited_s": round(check.waited, 3), "words": check.words()}
    if check.error is not None:
        out["error"] = check.error
    return out
