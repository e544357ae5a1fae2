"""C-GET (PS3.4 C.4.3; DIMSE PS3.7 9.1.3): bring a study, series or images to this computer
over our own association, for a PACS that cannot be given our address for a C-MOVE.

The whole operation runs in one DIMSE worker thread, as a C-MOVE does (:mod:`.move`): first
an IMAGE-level C-FIND for the Storage SOP classes the target holds
(:func:`.get_contexts.study_storage_classes`, its own association), then one association
proposing the Q/R GET models and those storage classes with SCP/SCU Role Selection for the
SCP role (PS3.7 D.3.3.4), the C-GET request, and the responses read through pynetdicom (never
the lean reader: the PACS's C-STORE-RQ sub-operations come between them, PS3.4 C.4.3.3).

Each C-STORE-RQ is written by the receiver's writer
(:func:`.store_files.write_instance`: a Part 10 file, atomically, under the storage folder),
published to the :class:`.arrival_hub.ArrivalHub` and answered 0x0000, or with the writer's
failure status (0xA700 out of resources for a full disk) and said in the result. The
responses' sub-operation counts become :class:`MoveProgress` values, the end a
:class:`MoveResult` decided by :func:`.outcome.decide.decide_move` (the same rules as a
C-MOVE), in words about "this computer". Cancel (C-CANCEL, then A-ABORT after the grace), the
idle timer (restarted by every response and every C-STORE-RQ) and the total deadline are the
C-MOVE's (:mod:`.operation`, :mod:`.watchdog`); responses are held to the profile's
``max_message_mb``, each image to the receiver's ``max_instance_mb`` (one size rule for every
image that comes to this computer).

What arrived is the fact: the counts shown and the result's ``completed`` never exceed the
distinct images written (a PACS that says "8 completed" after sending 1 gives "1 of 8, 7
failed", partial, in words: "the PACS said 8 sent; 1 arrived"); nothing can arrive after the
C-GET's association ended. A C-STORE-RQ on a presentation context of another SOP class
(pynetdicom answers 0x0122 itself, PS3.7 C.5.13) and an instance outside the requested
study, series or images (answered 0xC000 "cannot understand", PS3.4 B.2.3: 0xA900 would tell
the PACS's administrator its data set does not match its SOP class, which is not the fault)
are published as refusals and counted failed; neither is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pynetdicom import evt

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.receiver_settings import DEFAULT_MAX_INSTANCE_MB
from dicom_courier.core.dimse.abort_report import ended_early_error
from dicom_courier.core.dimse.association import (
    ORTHANC_AE_LIST,
    finish_association,
    guard_error,
    open_association,
    peer_of,
    unexpected_error,
)
from dicom_courier.core.dimse.channel import Channel
from dicom_courier.core.dimse.get_contexts import (
    DEFAULT_STORAGE_CLASSES,
    storage_contexts_for,
    study_storage_classes,
)
from dicom_courier.core.dimse.lean_reader import DimseResponse
from dicom_courier.core.dimse.operation import (
    ABORT_BY_USER,
    ABORT_CANCEL_GRACE,
    ABORT_CONSUMER_GONE,
    ABORT_DEADLINE,
    DimseOperation,
)
from dicom_courier.core.dimse.patient_lookup import needs_patient_id, patient_id_first
from dicom_courier.core.dimse.store_files import StoreRefused, write_instance
from dicom_courier.core.dimse.watchdog import OVERSIZE_IMAGE, TRIP_OVERSIZE, idle_ran_out
from dicom_courier.core.outcome.arrival import Arrival
from dicom_courier.core.outcome.decide import Verdict, decide_move, target_words
from dicom_courier.core.outcome.errors import (
    Cancelled,
    CourierError,
    DeadlineExceeded,
    MessageTooLarge,
    NoImageArrived,
    NothingMatched,
    NotSupported,
    PartialFailure,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.outcome.suboperations import SubOperationTally, finishes_all
from dicom_courier.core.qr.model_choice import move_models
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom.association import Association
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.events import Event

    from dicom_courier.core.dimse.arrival_hub import ArrivalHub

LOGGER = logging.getLogger(__name__)

_MSG_ID = 1
#: How the result's words name where a C-GET's images go (a C-GET has no destination AE).
HERE_WORDS = "this computer"
#: Status we answer a C-STORE-RQ with when writing failed for a reason the writer did not
#: classify (PS3.4 B.2.3: 0xA700 out of resources).
_OUT_OF_RESOURCES = 0xA700
#: What pynetdicom answers a C-STORE-RQ on a context of another SOP class with (PS3.7 C.5.13:
#: SOP class not supported).
_WRONG_CONTEXT = 0x0122
#: Bytes in one MB of ``max_instance_mb`` (the receiver's unit: 10^6 bytes).
_MB = 1_000_000


class _Stores:
    """What the C-STORE handler did, for the result. Runs on: the DIMSE worker thread (the
    handler runs inside pynetdicom's response generator, on the thread iterating it)."""

    def __init__(self) -> None:
        self.written = 0
        self.refused = 0
        self.first_refusal: StoreRefused | None = None
        #: The distinct SOP Instance UIDs written: what arrived.
        self.sop_uids: set[str] = set()
        #: Refused because this computer could not write (0xA700), not because of the PACS.
        self.disk_refused = 0
        self.lock = threading.Lock()

    @property
    def arrived(self) -> int:
        with self.lock:
            return len(self.sop_uids)


class GetOperation(DimseOperation[MoveProgress, MoveResult]):
    """One C-GET on its own association. ``async for progress in op`` then ``op.result``.

    ``folder``: where the images are written (the receiver's storage folder); ``our_aet``:
    our AE title, recorded in each file's meta header as the receiving AE; ``hub``: where
    each :class:`Arrival` is published (on this operation's worker thread);
    ``max_instance_mb``: the largest image the PACS may send, in MB of 10^6 bytes (None:
    the receiver's default, 2048); larger ends the retrieve with MessageTooLarge.
    """

    def __init__(self, pacs: PacsNode, request: MoveRequest, executor: Executor, *,
                 folder: Path, our_aet: str, hub: ArrivalHub,
                 max_instance_mb: int | None = None, cancel_grace: float = 5.0) -> None:
        super().__init__(pacs, executor, cancel_grace=cancel_grace)
        self.request = request
        self.folder = folder
        self.our_aet = our_aet
        self.hub = hub
        #: The largest image (MB) the PACS may send (the receiver's ``max_instance_mb``).
        self.max_instance_mb = max_instance_mb or DEFAULT_MAX_INSTANCE_MB
        #: What the PACS said it sent, when more than arrived (set with the result).
        self._said: int | None = None
        self._stores = _Stores()
        self._pending_counted = False
        self._model_used: QueryModel | None = None
        self._request_sent = False

    @property
    def written(self) -> int:
        """Images written to disk so far (any thread)."""
        return self._stores.written

    def _work(self, channel: Channel[MoveProgress]) -> MoveResult:
        """Runs on: DIMSE worker thread."""
        started = time.monotonic()
        counts = SubOperationTally()
        try:
            error = self._exchange(channel, counts, started)
        except CourierError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - pynetdicom on bytes it did not expect
            error = unexpected_error(exc, self.pacs, "retrieve")
        finally:
            channel.close()
        return self._result_of(counts, error, time.monotonic() - started)

    # ------------------------------------------------------------------ the exchange

    def _exchange(self, channel: Channel[MoveProgress], counts: SubOperationTally,
                  started: float) -> CourierError | None:
        """Look the storage classes up, associate, send the C-GET, read to the end."""
        models = move_models(self.request)
        target = self.request.target
        target.to_identifier(  # InvalidInput before connecting
            QueryModel.STUDY if needs_patient_id(models[0], target) else models[0])
        classes = study_storage_classes(self.pacs, target, models, self.control)
        if self.cancel_requested or self.control.abort_reason is not None:
            return self._stopped_before_request()
        contexts = storage_contexts_for(classes or DEFAULT_STORAGE_CLASSES)
        handlers: list[evt.EventHandlerType] = [(evt.EVT_C_STORE, self._on_store)]
        cap = self.max_instance_mb * _MB
        assoc = open_association(self.pacs, [m.get_uid for m in models], self.control,
                                 storage=contexts, handlers=handlers, store_cap=cap)
        model = self._model_used = _accepted_get_model(assoc, models)
        if needs_patient_id(model, target):  # PS3.4 C.4.3.2.1: the Patient ID is a key
            finish_association(assoc, clean=True, guard=self.control.guard)
            target = patient_id_first(self.pacs, target, self.control)
            assoc = open_association(self.pacs, [model.get_uid], self.control,
                                     storage=contexts, handlers=handlers, store_cap=cap)
        self._hear_wrong_contexts(assoc)
        if not _stores_accepted(assoc):
            finish_association(assoc, clean=True, guard=self.control.guard)
            return self._no_storage_error()
        counts.last_response_at = time.monotonic()
        clean = False
        generator: Generator[tuple[Dataset, Dataset | None], None, None] | None = None
        try:
            model_uid = model.get_uid
            identifier = target.to_identifier(model)
            generator = cast("Generator[tuple[Dataset, Dataset | None], None, None]",
                             assoc.send_c_get(identifier, model_uid, msg_id=_MSG_ID,
                                              priority=int(self.request.priority)))
            self._request_sent = True
            self.control.attach(assoc, model_uid, _MSG_ID)
            for status_set, failed_list in generator:
                response = DimseResponse.of_pynetdicom(status_set, failed_list)
                if response.status is None:
                    return self._no_status_error(counts)
                counts.update(response.status_set, response.identifier,
                              cancel_sent=self.cancel_requested)
                progress = self._capped(counts)[0].progress(time.monotonic() - started)
                if not progress.is_final and (progress.remaining or progress.sent):
                    self._pending_counted = True
                channel.put(progress)
                if progress.is_final:
                    clean = True
                    return None
            return self._no_status_error(counts)
        finally:
            if generator is not None:
                generator.close()
            self.control.detach(final=clean)
            finish_association(assoc, clean=clean, guard=self.control.guard)

    def _on_store(self, event: Event) -> int:
        """One C-STORE-RQ of the C-GET (PS3.4 C.4.3.3, B.2): write it, publish it, answer.

        Runs on: DIMSE worker thread (inside pynetdicom's response generator)."""
        request = cast("C_STORE", event.request)
        try:
            data = request.DataSet.getvalue() if request.DataSet is not None else b""
            syntax = str(event.context.transfer_syntax)
            arrival: Arrival = write_instance(
                self.folder, data, transfer_syntax=syntax,
                sop_class_uid=str(request.AffectedSOPClassUID or ""),
                sop_uid=str(request.AffectedSOPInstanceUID or ""),
                calling_aet=self.pacs.called_aet, our_aet=self.our_aet,
                belongs=_belongs_to(self.request.target))
        except StoreRefused as exc:
            return self._refused(exc, exc.status)
        except Exception as exc:  # noqa: BLE001 - a writer fault must not end the retrieve
            LOGGER.warning("writing a retrieved image failed: %s", type(exc).__name__)
            return self._refused(StoreRefused(_OUT_OF_RESOURCES, _plain(exc)),
                                 _OUT_OF_RESOURCES)
        with self._stores.lock:
            self._stores.written += 1
            self._stores.sop_uids.add(arrival.sop_uid)
        self.hub.publish(arrival)
        return 0x0000

    def _hear_wrong_contexts(self, assoc: Association) -> None:
        """Say each C-STORE-RQ pynetdicom refuses by itself (0x0122: on a presentation
        context of another SOP class, PS3.7 9.3.1.1; no handler is called then) as a refusal:
        wraps this association's C-STORE SCP step. Runs on: DIMSE worker thread."""
        answer = assoc._c_store_scp

        def c_store_scp(request: C_STORE) -> None:
            why = _wrong_context(assoc, request, self.pacs.called_aet)
            if why is not None:
                LOGGER.info("a C-STORE-RQ on the wrong presentation context was refused")
                self._refused(StoreRefused(_WRONG_CONTEXT, why), _WRONG_CONTEXT)
            answer(request)

        assoc._c_store_scp = c_store_scp  # type: ignore[method-assign,assignment]

    def _refused(self, refusal: StoreRefused, status: int) -> int:
        with self._stores.lock:
            self._stores.refused += 1
            if status == _OUT_OF_RESOURCES:
                self._stores.disk_refused += 1
            if self._stores.first_refusal is None or (
                    status == _OUT_OF_RESOURCES and self._stores.first_refusal.status
                    != _OUT_OF_RESOURCES):
                self._stores.first_refusal = refusal
        try:
            self.hub.refused(refusal.reason, calling_aet=self.pacs.called_aet,
                             address=f"{self.pacs.host}:{self.pacs.port}", status=status)
        except Exception:  # noqa: BLE001 - a listener's fault is not the retrieve's
            LOGGER.exception("a refusal listener failed")
        return status

    # ------------------------------------------------------------------ errors

    def _stopped_before_request(self) -> CourierError:
        if self.control.abort_reason == ABORT_DEADLINE:
            return DeadlineExceeded(
                f"The retrieve did not finish within its deadline of "
                f"{self.pacs.timeouts.total:g} s.",
                f"It ended while Courier asked {self.pacs.called_aet} which kinds of images "
                "the study holds; no retrieve request was sent.",
                "Retry later, or raise the total deadline in the PACS profile.",
                peer=peer_of(self.pacs))
        return _cancelled_before(self.pacs)

    def _no_storage_error(self) -> CourierError:
        peer = peer_of(self.pacs)
        return NotSupported(
            f"{peer.called_aet} will not send images back over our association (C-GET).",
            f"{peer.called_aet} accepted the association but none of the storage services "
            "Courier offered to receive its images (SCP/SCU role selection, PS3.7 D.3.3.4); "
            "nothing was requested.",
            "Use C-MOVE to this computer for this PACS (retrieve method \"move\" in the PACS "
            "profile), or ask the PACS administrator to allow C-GET for our AE title "
            f"{peer.calling_aet}.", peer=peer)

    def _no_status_error(self, counts: SubOperationTally) -> CourierError:
        """Why responses stopped: our deadline, our cancel, idle timeout or the peer."""
        peer = peer_of(self.pacs)
        timeouts = self.pacs.timeouts
        reason = self.control.abort_reason
        sofar = {"Images so far": counts.describe(),
                 "Written to disk": str(self._stores.written)}
        too_large = self._image_too_large(sofar)
        if too_large is not None:
            return too_large
        fault = guard_error(self.control, self.pacs, "retrieve", sofar)
        if fault is not None:
            return fault
        kept = (f"{self._stores.written} image(s) already written to {self.folder} stay "
                "there.")
        if reason == ABORT_DEADLINE:
            return DeadlineExceeded(
                f"The retrieve did not finish within its deadline of {timeouts.total:g} s.",
                f"{peer.called_aet} was still sending when the deadline passed; we ended the "
                f"association. {counts.describe()}. {kept}",
                "Retry later, or raise the total deadline in the PACS profile for very large "
                "studies.", peer=peer, details=sofar)
        if reason in (ABORT_BY_USER, ABORT_CANCEL_GRACE, ABORT_CONSUMER_GONE):
            how = {ABORT_BY_USER: "You asked to stop at once, so we ended the association",
                   ABORT_CANCEL_GRACE: f"{peer.called_aet} did not confirm the cancel within "
                                       f"{self.cancel_grace:g} s, so we ended the association",
                   ABORT_CONSUMER_GONE: "We ended the association without waiting for a "
                                        "cancel to be confirmed"}[reason]
            return Cancelled(
                "The retrieve was cancelled." if reason != ABORT_BY_USER
                else "The retrieve was aborted.",
                f"{how}. {counts.describe()}. {kept} Nothing more arrives: a C-GET sends only "
                "over our own association.",
                "Retrieve again if it was stopped by mistake.", peer=peer, details=sofar)
        guard = self.control.guard
        if idle_ran_out(guard, counts.last_response_at, timeouts.idle):
            return PeerTimeout(
                f"{peer.called_aet} stopped answering for {timeouts.idle:g} s.",
                f"No response or image came within the idle timeout; we ended the "
                f"association. {counts.describe()}. {kept}",
                "Check that the PACS is healthy and retry; for a slow PACS raise the idle "
                "timeout in the profile.", peer=peer, details=sofar)
        return ended_early_error(peer, "retrieve", counts.responses,
                                 guard.peer_abort if guard is not None else None,
                                 ORTHANC_AE_LIST, sofar)

    def _image_too_large(self, sofar: dict[str, str]) -> CourierError | None:
        """The watchdog ended the retrieve for an image over ``max_instance_mb``."""
        guard = self.control.guard
        trip = guard.trip_info if guard is not None else None
        if trip is None or trip.reason != TRIP_OVERSIZE or \
                not trip.detail.startswith(OVERSIZE_IMAGE):
            return None
        peer = peer_of(self.pacs)
        limit = self.max_instance_mb
        return MessageTooLarge(
            f"{peer.called_aet} sent an image larger than {limit} MB.",
            f"One image of the retrieve was larger than this computer accepts ({limit} MB); "
            "Courier stopped reading it and ended the association so that memory stays "
            f"bounded. {self._stores.written} image(s) already written to {self.folder} "
            "stay there.",
            "If the study really holds such large images (large multi-frame series), raise "
            "the largest image this computer accepts (the receiver's setting "
            f"\"max_instance_mb\" in receiver.json, or Preferences > This computer; now "
            f"{limit} MB), then retrieve again.", peer=peer,
            details={"What the PACS sent": trip.detail, **sofar})

    def _capped(self, counts: SubOperationTally) -> tuple[SubOperationTally, int | None]:
        """``counts`` as far as they are true here: images the PACS counts as sent (completed
        or with warnings) beyond the distinct images written are moved to failed. Returns the
        counts and what the PACS said it sent when that was more than arrived (else None)."""
        arrived = self._stores.arrived
        said = counts.sent
        if said <= arrived or counts.completed_unknown:
            return counts, None
        completed = min(counts.completed, arrived)
        warning = min(counts.warning, arrived - completed)
        capped = replace(counts, completed=completed, warning=warning,
                         failed=counts.failed + said - completed - warning,
                         remarks=list(counts.remarks))
        return capped, said

    # ------------------------------------------------------------------ the result

    def _result_of(self, counts: SubOperationTally, error: CourierError | None,
                   duration: float) -> MoveResult:
        """The result, decided by :func:`.outcome.decide.decide_move`, in a C-GET's words."""
        peer = peer_of(self.pacs)
        if isinstance(error, Cancelled) and not self._request_sent:
            error = _cancelled_before(self.pacs)
        counts, self._said = self._capped(counts)
        model = (self._model_used or self.request.model).value
        verdict = decide_move(counts, error=error, cancel_sent=self.cancel_requested,
                              peer=peer, destination=HERE_WORDS, model=model,
                              target=target_words(self.request.target))
        verdict = self._in_retrieve_words(verdict, counts, model)
        return MoveResult(
            outcome=verdict.outcome, total=counts.total, completed=counts.completed,
            failed=counts.failed, warning=counts.warning, status=counts.status,
            duration=duration, error_comment=counts.comment, failed_sop_uids=counts.failed_uids,
            error=verdict.error, destination=self.request.destination, peer=peer,
            counts_reported=counts.reported, note=verdict.note,
            completed_reported=not counts.completed_unknown,
            cancel_sent=self.cancel_requested, pending_counted=self._pending_counted,
            cancel_unconfirmed=False,  # a C-GET sends over our association only: it is over
            request_sent=self._request_sent, via_get=True, said_sent=self._said)

    def _in_retrieve_words(self, verdict: Verdict, counts: SubOperationTally,
                           model: str) -> Verdict:
        """``decide_move``'s verdict, true of a C-GET: a failure status is about a retrieve
        (no destination to blame), and images our writer refused are said (a PACS may not
        count them as failed)."""
        error = verdict.error
        code = counts.status
        peer = peer_of(self.pacs)
        if (error is not None and code is not None and not finishes_all(code)
                and not counts.sent and not isinstance(error, Cancelled | NothingMatched)):
            error = failure_for_status(code, operation="retrieve", peer=peer,
                                       comment=counts.comment, counts=counts.describe(),
                                       model=model)
            if code & 0xF000 == 0xC000 and not counts.comment:  # Orthanc: nothing matched
                what = target_words(self.request.target)
                error.explanation = (
                    f"The PACS answered \"unable to process\" (0x{code:04X}) without saying "
                    f"why. Likely causes: nothing on the PACS matched {what} (the study may "
                    "have been deleted, or the UID is wrong), or the PACS does not allow our "
                    f"AE title {peer.calling_aet} to retrieve with C-GET.")
                error.action = ("Search again and retrieve from the fresh results; if it "
                                "happens again, check the PACS's log, or use C-MOVE to this "
                                "computer (retrieve method \"move\" in the PACS profile).")
        if error is not None and "Move destination" in error.extra_details:
            del error.extra_details["Move destination"]  # a C-GET has none
            error.extra_details["Retrieved to"] = HERE_WORDS
        stores = self._stores
        refusal, said, arrived = stores.first_refusal, self._said, stores.arrived
        if refusal is None and said is None:
            return Verdict(verdict.outcome, error, verdict.note)
        facts: list[str] = []
        if said is not None:
            facts.append(f"{peer.called_aet} said {said} sent; {arrived} arrived. A C-GET's "
                         "images come only over our own association, which has ended: nothing "
                         "more can arrive.")
        if refusal is not None:
            verb = "could not write" if stores.disk_refused else "refused"
            facts.append(f"Courier {verb} {stores.refused} image(s) the PACS sent: "
                         f"{refusal.reason} (answered 0x{refusal.status:04X}).")
        if stores.disk_refused:
            action = (f"Free disk space in {self.folder} (or choose another storage folder), "
                      "then retrieve again.")
        elif refusal is not None:
            action = ("Retrieve again; if it happens again, send the details to the PACS "
                      f"administrator: {peer.called_aet} sent images Courier did not ask for "
                      "or could not take as sent.")
        else:
            action = ("Retrieve again; if it happens again, check the PACS's log: it counted "
                      "images as sent that never came.")
        outcome = verdict.outcome
        words = " ".join(facts)
        from_counts = isinstance(error, NoImageArrived | PartialFailure)  # decided on counts
        if error is None or from_counts or outcome in (MoveOutcome.COMPLETED,
                                                       MoveOutcome.COMPLETED_WITH_WARNINGS):
            outcome = MoveOutcome.PARTIAL if arrived else MoveOutcome.FAILED
            if refusal is not None and stores.disk_refused and not arrived:
                title = f"No image could be written to {HERE_WORDS}."
            elif said is not None:
                title = f"{peer.called_aet} said {said} sent; {arrived} arrived on {HERE_WORDS}."
            elif arrived:
                title = (f"Only part of the retrieve succeeded: {arrived} image(s) written to "
                         f"{HERE_WORDS}.")
            else:
                title = f"No image arrived on {HERE_WORDS}."
            error = PartialFailure(title, f"{peer.called_aet} answered {counts.describe()}. "
                                   f"{words}", action, peer=peer, status=code,
                                   comment=counts.comment)
        else:
            error.explanation = f"{error.explanation} {words}".strip()
            error.action = action
        if refusal is not None:
            error.extra_details["Refused by this computer"] = (
                f"{stores.refused} image(s): {refusal.reason}")
        if said is not None:
            error.extra_details["The PACS said sent"] = str(said)
            error.extra_details["Arrived"] = str(arrived)
        return Verdict(outcome, error, verdict.note)


def _accepted_get_model(assoc: Association, models: tuple[QueryModel, ...]) -> QueryModel:
    """The first of ``models`` whose GET SOP class the PACS accepted (PS3.8 9.3.3.2)."""
    accepted = {str(context.abstract_syntax) for context in assoc.accepted_contexts}
    return next((m for m in models if m.get_uid in accepted), models[0])


def _stores_accepted(assoc: Association) -> bool:
    """At least one storage context was accepted with us in the SCP role."""
    return any(context.as_scp for context in assoc.accepted_contexts
               if not str(context.abstract_syntax).startswith("1.2.840.10008.5.1.4.1.2."))


def _cancelled_before(pacs: PacsNode) -> Cancelled:
    return Cancelled(
        "Stopped before anything was retrieved.",
        f"The retrieve from {pacs.called_aet} was stopped before its request went out; "
        "nothing was retrieved.",
        "Retrieve again when ready.", peer=peer_of(pacs))


def _plain(exc: Exception) -> str:
    """An OS error in words without a path or patient data: "No space left on device"."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__



def _belongs_to(target: MoveTarget) -> Callable[[str, str, str], str | None]:
    """The writer's check that an instance is part of ``target`` (its study; its series and
    images when named): a plain reason to refuse it, or None."""
    study = target.study_uid.strip(" \x00")
    series = {uid.strip(" \x00") for uid in target.series_uids}
    images = {uid.strip(" \x00") for uid in target.sop_uids}

    def belongs(study_uid: str, series_uid: str, sop_uid: str) -> str | None:
        if study_uid != study:
            return "it belongs to another study than the one retrieved"
        if series and series_uid not in series:
            return "it belongs to a series that was not asked for"
        if images and sop_uid not in images:
            return "it is not one of the images asked for"
        return None
    return belongs


def _wrong_context(assoc: Association, request: C_STORE, pacs: str) -> str | None:
    """Why pynetdicom will answer ``request`` 0x0122 without storing it (the same test as
    its ``_get_valid_context`` for the SCP role), in plain words; None when it will not."""
    sop_class = str(request.AffectedSOPClassUID or "").strip(" \x00")
    context_id = request._context_id
    accepted = assoc._accepted_cx
    if context_id in accepted:
        context = accepted[context_id]
        if str(context.abstract_syntax) == sop_class and context.as_scp:
            return None
        return (f"{pacs} sent {_a(_class_words(sop_class))} on a "
                f"{_class_words(str(context.abstract_syntax))} presentation context")
    if any(str(c.abstract_syntax) == sop_class and c.as_scp for c in accepted.values()):
        return None
    return (f"{pacs} sent {_a(_class_words(sop_class))}, a kind of image Courier did not "
            "agree to receive on this association")


def _class_words(uid: str) -> str:
    """"MR image" for MR Image Storage; "SOP class 1.2.3" for a class pydicom does not name."""
    from pydicom.uid import UID

    try:
        name = UID(uid).name
    except Exception:  # noqa: BLE001 - a peer's value
        name = uid
    if not name or name == uid:
        return f"instance of SOP class {uid[:64]}"
    name = name.removesuffix(" Storage").replace(" Storage - ", " ")
    return name.replace("Image", "image")


def _a(words: str) -> str:
    """``words`` with "a" or "an" (acronyms by their letter's sound: "an MR image")."""
    first = words[:1]
    acronym = len(words) > 1 and words[1].isupper()
    vowel = first in "AEFHILMNORSX" if acronym else first.lower() in "aeio"
    return f"{'an' if vowel else 'a'} {words}"
