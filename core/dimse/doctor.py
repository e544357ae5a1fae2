"""The destination doctor (issue 13 §4): does a destination work, end to end?

Steps, each a :class:`~.diagnose.Check` with its result and time: echo the PACS and ask
whether we may search (:func:`.diagnose.pacs_checks`); does the PACS know the destination
and does the destination answer at its address (:func:`.diagnose.examine_destination`:
nothing is sent); then, only when the person picked a probe study, the smallest instance of
that study (:mod:`.probe_move`) is moved alone (IMAGE-level C-MOVE, PS3.4 C.4.2) to the
destination and the arrival check (:mod:`.arrival_check`) asks the destination for it, or
looks for its file when the destination is this computer's receiver. A one-line
:class:`DoctorVerdict` sums it up: "WS3 works end to end: a probe instance arrived in 0.4 s",
"the PACS ORTHANC does not know WS3 (0xA801)", "WS3 is switched off: no answer at
host:port", "the PACS says sent, but WS3 has not got it after 30 s".

For this computer the probe follows the PACS profile's retrieve method (issue 13 §2), as a
real retrieve would: C-MOVE to the receiver (which must run); C-GET of the one instance over
our own association (no receiver, no address for this computer: the PACS need not know us,
so that question is not asked); automatic: C-MOVE, and C-GET when the PACS refuses to send
to us before sending anything (0xA801 and the like, :func:`.retrieve_here.refuses_destination`)
or when the receiver is not running; the verdict says which way worked.

``nodes test NAME --dest AET [--probe-study UID]`` and the window's destination test run the
same :func:`doctor`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.arrival_check import await_files, check_arrival
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.destination_check import DestinationDown
from dicom_courier.core.dimse.diagnose import (
    Check,
    Verdict,
    bounded,
    examine_destination,
    pacs_checks,
)
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.probe_move import ProbeInstance, smallest_instance
from dicom_courier.core.dimse.retrieve_here import refuses_destination
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER, ArrivalCheck
from dicom_courier.core.outcome.errors import CourierError, MoveDestinationUnknown
from dicom_courier.core.qr.query import MoveRequest, QueryModel

#: The step name of the doctor's probe move (one real instance), apart from the
#: no-match C-MOVE of :data:`.diagnose.NO_MATCH_MOVE`.
PROBE_MOVE = "probe C-MOVE (1 instance)"
#: The step name of the doctor's probe C-GET (one real instance, to this computer).
PROBE_GET = "probe C-GET (1 instance)"


class ProbeReceiver(Protocol):
    """What the doctor needs of this computer's running receiver (part A's ``Receiver``)."""

    @property
    def ae_title(self) -> str: ...

    @property
    def folder(self) -> Path: ...

    @property
    def running(self) -> bool: ...


@dataclass(frozen=True)
class DoctorVerdict:
    """The doctor's one line. ``works``: True (proven end to end), False (it does not work,
    and ``text`` says where it breaks), None (not proven either way). ``probe_hint``: True
    when nothing was sent because no probe study was picked (the front end says how)."""

    works: bool | None
    text: str
    probe_hint: bool = False


class Doctor:
    """The doctor's steps for one destination: ``async for check in doctor(...)``, then
    ``.verdict`` (set when the iteration ends; None before).

    ``wait``/``interval``: seconds the arrival check waits for the probe and between two
    looks; ``step_deadline``: seconds each DICOM step may take at most
    (:func:`.diagnose.bounded`). Raises nothing for a network fault: each is a FAILED (or
    UNCLEAR) check and the verdict. Cancelling the consuming task aborts the step's
    association.
    """

    def __init__(self, courier: Courier, node: PacsNode, dest: Destination,
                 probe_study: str | None = None, *, receiver: ProbeReceiver | None = None,
                 wait: float = 30.0, interval: float = 1.0,
                 step_deadline: float | None = None) -> None:
        self.courier, self.node, self.dest = courier, node, dest
        self.probe_study, self.receiver = probe_study, receiver
        self.wait, self.interval, self.step_deadline = wait, interval, step_deadline
        self.verdict: DoctorVerdict | None = None

    def __aiter__(self) -> AsyncIterator[Check]:
        return self._steps()

    @property
    def _here(self) -> bool:
        return self.receiver is not None and self.dest.ae_title == self.receiver.ae_title

    @property
    def _method(self) -> RetrieveMethod:
        """How this destination gets the probe: the profile's retrieve method for this
        computer, C-MOVE for any other destination."""
        return self.node.retrieve if self._here else RetrieveMethod.MOVE

    def _end(self, works: bool | None, text: str, *, hint: bool = False) -> None:
        self.verdict = DoctorVerdict(works, text, hint)

    async def _steps(self) -> AsyncIterator[Check]:
        node, dest = bounded(self.node, self.step_deadline), self.dest
        pacs, name = node.called_aet, dest.ae_title
        async for check in pacs_checks(self.courier, node):
            yield check
            if check.step == "C-ECHO" and check.verdict is Verdict.FAILED:
                self._end(False, f"the PACS {pacs} does not answer at {node.host}:{node.port}"
                          f": {check.answer}")
                return
        method = self._method
        if method is RetrieveMethod.GET:
            async for check in self._get_only(node):
                yield check
            return
        if self.receiver is not None and self._here:
            running = self.receiver.running
            if not running and method is RetrieveMethod.AUTO:
                yield Check(f"Is this computer's receiver {name} running?", Verdict.WARNING,
                            "no: this PACS's retrieve method is automatic, so Courier "
                            "retrieves with C-GET, which needs no receiver", step="receiver")
                async for check in self._get_only(node):
                    yield check
                return
            yield Check(f"Is this computer's receiver {name} running?",
                        Verdict.OK if running else Verdict.FAILED,
                        f"yes; files go to {self.receiver.folder}" if running else
                        "no: turn it on (Preferences, This computer) and test again",
                        step="receiver")
            if not running:
                self._end(False, f"this computer's receiver {name} is not running")
                return
        test = await examine_destination(self.courier, node, dest)
        for check in test.checks:
            if self._here and check.verdict is Verdict.SKIPPED:
                # this computer has no address to save: it is the receiver checked above
                check = replace(check, answer="not asked: it is this computer's receiver, "
                                "running (above); whether the PACS reaches it only a probe "
                                "study shows")
            yield check
        known, reach = test.checks
        if reach.verdict is Verdict.FAILED:
            self._end(False, f"{name} is switched off: no answer at {dest.host}:{dest.port}")
            return
        if isinstance(known.error, MoveDestinationUnknown):
            if method is RetrieveMethod.AUTO:  # automatic: C-GET needs no address for us
                if self.probe_study is None:
                    self._end(None, f"the PACS {pacs} does not know {name} (0xA801), so an "
                              "automatic retrieve uses C-GET; nothing was sent (pick a probe "
                              "study to prove it end to end)", hint=True)
                    return
                async for check in self._probe(node, self.probe_study,
                                               move_refused=f"{pacs} does not know {name} "
                                               "(0xA801)"):
                    yield check
                return
            self._end(False, f"the PACS {pacs} does not know {name} (0xA801)")
            return
        if self.probe_study is None:
            self._end(None, f"{test.verdict.text}; nothing was sent (pick a probe study to "
                      "prove it end to end)", hint=True)
            return
        async for check in self._probe(node, self.probe_study):
            yield check

    async def _get_only(self, node: PacsNode) -> AsyncIterator[Check]:
        """This computer, by C-GET: nothing to ask about the PACS knowing us; the probe (if
        one was picked) is retrieved over our own association."""
        pacs = node.called_aet
        yield Check(f"How does {pacs} send images to this computer?", Verdict.OK,
                    "by C-GET over Courier's own association: the PACS needs no address for "
                    "this computer and no receiver has to run", step="retrieve method")
        if self.probe_study is None:
            self._end(None, f"the PACS {pacs} answers; this computer retrieves from it with "
                      "C-GET; nothing was sent (pick a probe study to prove it end to end)",
                      hint=True)
            return
        async for check in self._probe(node, self.probe_study, get_only=True):
            yield check

    async def _probe(self, node: PacsNode, study_uid: str, *, get_only: bool = False,
                     move_refused: str | None = None) -> AsyncIterator[Check]:
        """Find the smallest instance, move (or C-GET) it alone, check that it arrived.
        ``get_only``: by C-GET at once; ``move_refused``: why a C-MOVE to this computer
        cannot work (an automatic retrieve then uses C-GET)."""
        pacs, name = node.called_aet, self.dest.ae_title
        question = f"Which instance of study {study_uid} is the probe?"
        started = time.monotonic()
        try:
            probe = await smallest_instance(self.courier, node, study_uid)
        except CourierError as exc:
            yield Check(question, Verdict.FAILED, exc.title, exc, "C-FIND (IMAGE)",
                        _ms(started))
            self._end(None, f"cannot tell: no probe instance ({exc.title})")
            return
        yield Check(question, Verdict.OK, f"{probe.sop_uid}: {probe.how}",
                    step="C-FIND (IMAGE)", ms=_ms(started))
        if get_only or move_refused is not None:
            async for check in self._probe_get(node, probe, move_refused):
                yield check
            return
        question = f"Does {pacs} send the probe instance to {name}?"
        started = time.monotonic()
        operation = self.courier.move(node, MoveRequest(probe.target, name, QueryModel.STUDY))
        result = await operation.run()
        move_ms = _ms(started)
        error = result.error
        if (self._method is RetrieveMethod.AUTO and refuses_destination(result.status)
                and result.sent == 0 and result.failed == 0 and result.request_sent):
            status = f"0x{result.status or 0:04X}"
            why = error.title.rstrip(".") if error is not None else "refused"
            yield Check(question, Verdict.UNCLEAR, f"no ({status}): {why}; an automatic "
                        "retrieve uses C-GET then", error, PROBE_MOVE, move_ms)
            async for check in self._probe_get(node, probe, f"{pacs} refused to send to "
                                               f"{name} ({status})"):
                yield check
            return
        if isinstance(error, MoveDestinationUnknown):
            yield Check(question, Verdict.FAILED, f"no (0xA801): {error.title}", error,
                        PROBE_MOVE, move_ms)
            self._end(False, f"the PACS {pacs} does not know {name} (0xA801)")
            return
        if isinstance(error, DestinationDown):
            yield Check(question, Verdict.FAILED, error.title, error, PROBE_MOVE, move_ms)
            self._end(False, f"{name} is switched off: no answer at "
                      f"{error.echo.address or f'{self.dest.host}:{self.dest.port}'}")
            return
        if result.sent == 0 and (error is not None or result.counts_reported):
            title = error.title if error is not None else "the PACS sent nothing"
            yield Check(question, Verdict.FAILED, title, error, PROBE_MOVE, move_ms)
            self._end(False, f"the probe move to {name} failed: {title}")
            return
        yield Check(question, Verdict.OK, f"the PACS says sent (status 0x{result.status or 0:04X})",
                    step=PROBE_MOVE, ms=move_ms)
        async for check in self._arrival(node, probe, started):
            yield check

    async def _probe_get(self, node: PacsNode, probe: ProbeInstance,
                         move_refused: str | None) -> AsyncIterator[Check]:
        """C-GET the probe instance to this computer (PS3.4 C.4.3), then look for its file."""
        assert self.receiver is not None  # only for this computer
        pacs = node.called_aet
        question = f"Does {pacs} send the probe instance to this computer by C-GET?"
        started = time.monotonic()
        operation = self.courier.get(node, MoveRequest(probe.target, HERE, QueryModel.STUDY),
                                     folder=self.receiver.folder,
                                     our_aet=self.receiver.ae_title, hub=ArrivalHub())
        result = await operation.run()
        get_ms = _ms(started)
        error = result.error
        after = f" ({move_refused})" if move_refused else ""
        if result.sent == 0:
            title = error.title if error is not None else "the PACS sent nothing"
            yield Check(question, Verdict.FAILED, title, error, PROBE_GET, get_ms)
            self._end(False, f"the probe C-GET from {pacs} failed{after}: {title}")
            return
        yield Check(question, Verdict.OK, f"yes (status 0x{result.status or 0:04X})",
                    step=PROBE_GET, ms=get_ms)
        by = f" by C-GET{after}" if move_refused else " by C-GET"
        async for check in self._arrival(node, probe, started, by=by, wait=0.0):
            yield check

    async def _arrival(self, node: PacsNode, probe: ProbeInstance, started: float, *,
                       by: str = "", wait: float | None = None) -> AsyncIterator[Check]:
        """Did the probe arrive? ``by``: how it was sent, for the verdict (" by C-GET");
        ``wait``: seconds to look for late files (None: :attr:`wait`; 0 after a C-GET)."""
        pacs, name = node.called_aet, self.dest.ae_title
        question = f"Did the probe instance arrive at {name}?"
        looked = time.monotonic()
        check: ArrivalCheck
        expected = {probe.series_uid: 1}
        if self.receiver is not None and self._here:
            step = f"files in {self.receiver.folder}"
            check = await await_files(self.receiver.folder, probe.study_uid, 1,
                                      expected=expected, sop_uids=(probe.sop_uid,),
                                      wait=self.wait if wait is None else wait,
                                      interval=min(self.interval, 0.2))
            where = THIS_COMPUTER
        elif self.dest.can_be_checked:
            step = f"C-FIND at {name}"
            check = await check_arrival(self.courier, node, self.dest, probe.study_uid,
                                        expected=expected, expected_total=1, wait=self.wait,
                                        interval=self.interval, sop_uids=(probe.sop_uid,))
            where = name
        else:
            yield Check(question, Verdict.SKIPPED, f"cannot ask {name}: it is not saved as "
                        "answering queries (with its address), so only the PACS's word is "
                        "known", step="arrival check")
            self._end(None, f"the PACS {pacs} says it sent a probe instance to {name}; "
                      f"whether it arrived cannot be checked ({name} is not marked queryable)")
            return
        ms = _ms(looked)
        if check.verified:
            seconds = time.monotonic() - started
            yield Check(question, Verdict.OK, f"yes: {check.words()}", step=step, ms=ms)
            self._end(True, f"{name} works end to end{by}: a probe instance arrived in "
                      f"{seconds:.1f} s")
        elif check.error is not None:
            yield Check(question, Verdict.UNCLEAR, check.words(), step=step, ms=ms)
            self._end(None, f"the PACS {pacs} says it sent a probe instance, but {name} could "
                      f"not be asked: {check.error}")
        else:
            yield Check(question, Verdict.FAILED, f"no: {where} has not got it after "
                        f"{check.waited:.0f} s", step=step, ms=ms)
            self._end(False, f"the PACS says sent, but {name} has not got it after "
                      f"{check.waited:.0f} s")


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def doctor(courier: Courier, node: PacsNode, dest: Destination, probe_study: str | None = None,
           *, receiver: ProbeReceiver | None = None, wait: float = 30.0, interval: float = 1.0,
           step_deadline: float | None = None) -> Doctor:
    """The doctor's steps for ``dest`` of ``node`` (see :class:`Doctor`): iterate it for the
    :class:`~.diagnose.Check` of each step, then read ``.verdict``. Nothing is sent unless
    ``probe_study`` (a Study Instance UID the person picked) is given. ``receiver``: this
    computer's running receiver, for a destination that is its AE title."""
    return Doctor(courier, node, dest, probe_study, receiver=receiver, wait=wait,
                  interval=interval, step_deadline=step_deadline)
