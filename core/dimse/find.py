"""C-FIND (PS3.4 C.4.1): search a PACS; each match arrives as an immutable :class:`FindMatch`.

The response loop runs in one DIMSE worker thread and hands matches to the loop in batches.
A person's cancel sends C-CANCEL at once; a PACS that keeps answering ends at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import (
    guard_error,
    open_association,
    peer_of,
    unexpected_error,
)
from dicom_courier.core.dimse.channel import Channel
from dicom_courier.core.dimse.find_exchange import (
    EarlyEnd,
    FindExchange,
    early_end,
    exchange_find,
    peer_ended_error,
)
from dicom_courier.core.dimse.lean_reader import DimseResponse
from dicom_courier.core.dimse.operation import DimseOperation
from dicom_courier.core.outcome.errors import (
    Cancelled,
    CourierError,
    DeadlineExceeded,
    DimseFailure,
    Peer,
    PeerTimeout,
    UnreadableResults,
)
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.decode import decode_match
from dicom_courier.core.qr.model_choice import accepted_model, find_models, query_in
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel, QueryModel

#: Matches are handed to the loop in batches of this many, or after this long, whichever first:
#: one loop wake-up per match cost a fifth of a large search's CPU time.
_BATCH_SIZE = 100
_BATCH_SECONDS = 0.05


class _UnreadableTally:
    """Answers whose data set cannot be decoded: skipped, counted, and reported at the end.

    A PACS's bytes are not trusted input: pydicom may raise anything on them (an unknown
    explicit VR, a binary value of the wrong length, an element longer than the data set).
    Runs on: DIMSE worker thread.
    """

    def __init__(self) -> None:
        self.count = 0
        self.first_problem = ""
        self._last_empty: object = None

    def decode(self, response: DimseResponse, level: QueryLevel) -> FindMatch | None:
        """The match of one Pending response: from its bytes (the lean reader,
        :func:`.qr.decode_bytes.decode_match_bytes`) or its pydicom Dataset (pynetdicom's
        reader, :func:`.qr.decode.decode_match`); None (counted) if it cannot be read."""
        encoded, identifier = response.encoded, response.identifier
        if encoded is None and identifier is None:
            # A Pending answer must carry its match (PS3.4 C.4.1.1.4); pynetdicom also gives
            # None, twice with the same status object, when it could not decode the data set.
            if response.key is not self._last_empty:
                self._last_empty = response.key
                self._note("a pending answer without a readable data set")
            return None
        try:
            match = encoded.match(level) if encoded is not None else \
                decode_match(identifier, level)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - anything pydicom raises on a peer's bytes
            self._note(f"{type(exc).__name__}: {exc}")
            return None
        if not match.values:
            self._note("a data set with no readable element")
            return None
        return match

    def _note(self, problem: str) -> None:
        self.count += 1
        if not self.first_problem:
            self.first_problem = problem[:300]

    def note_missing_data_set(self) -> None:
        """The last Pending announced its match, and the association ended before it came."""
        self._note("a pending answer announced a data set that never arrived")

    def error(self, peer: Peer, shown: int) -> CourierError:
        several = self.count != 1
        return UnreadableResults(
            unreadable_summary(self.count) + ".",
            f"{peer.called_aet} sent {self.count} answer{'s' if several else ''} that Courier "
            f"cannot decode. The {shown} results that could be read are shown; the "
            f"unreadable {'ones were' if several else 'one was'} left out. Those studies may "
            "exist even though they are not listed.",
            "Search again with narrower criteria to find which study it is, and give the "
            "details to the PACS administrator.",
            peer=peer, details={"First problem": self.first_problem,
                                "Results left out": str(self.count)})


def unreadable_summary(count: int) -> str:
    """``"1 answer from the PACS could not be read"`` (``count`` >= 1; no full stop): the
    words the command line, the JSON output and the window's status bar all use."""
    return f"{count} answer{'' if count == 1 else 's'} from the PACS could not be read"


class SearchCutShort(DimseFailure):
    """The PACS ended the search with 0xFE00 ("cancelled", PS3.4 C.4.1.1.4) although we
    never sent a C-CANCEL: the matches received are real, but the list may be incomplete.

    A move must not be resolved from such a list; retrying the search may help.
    """

    retryable = True


def search_cut_short(peer: Peer, count: int, *, for_move: bool = False) -> SearchCutShort:
    """The error for a search ``peer`` stopped with 0xFE00 after ``count`` matches, unasked;
    ``for_move``: the search was resolving a send by keys, and nothing was sent."""
    seen = ("Nothing was sent: a send by keys needs the whole list, or it would quietly "
            "leave out what the PACS did not list" if for_move else
            "The results shown are real, but there may be more that it did not send")
    error = SearchCutShort(
        f"{peer.called_aet} stopped the search before the end: the list may be incomplete.",
        f"It answered 0xFE00 (cancelled) after {count} result(s), although we did not ask it "
        f"to stop. {seen} (some PACS stop a search this way at their own limit on results, "
        "or on a timer).",
        ("Narrow the keys (date range, modality) so that the search ends on its own, then "
         "send again." if for_move else
         "Search again, or narrow the search (date range, modality) so that it ends on its "
         "own."),
        peer=peer, status=0xFE00,
        details={"Results received before it stopped": str(count)})
    if for_move:
        error.cli_action = (f"{error.action[:-1]}, or send by --study UID.")
    return error


@dataclass(frozen=True)
class FindResult:
    """How a search ended: how many matches, the final status, and the error if it failed."""

    count: int
    status: int | None
    duration: float
    cancelled: bool
    error: CourierError | None
    #: Answers the PACS sent that could not be read (left out of the matches; PS3.4 C.4.1).
    unreadable: int = 0
    #: The Q/R model the search was asked in (the one the PACS accepted); None if the
    #: association never came up.
    model: QueryModel | None = None

    @property
    def is_success(self) -> bool:
        return self.error is None and not self.cancelled


class FindOperation(DimseOperation[FindMatch, FindResult]):
    """One C-FIND on its own association. ``async for match in op`` then ``op.result``.

    With ``raise_on_error`` (the default) a failure raises its typed error from the iteration
    after the matches received so far; otherwise it is only in ``result.error``.
    ``other_models``: models the PACS may be asked in instead of ``query.model``, proposed in
    the same association; the first accepted is used and named in ``result.model``
    (:mod:`.model_choice`). ``limit``: at most this many matches, then C-CANCEL (PS3.4
    C.4.1.3.1); ``cancel_grace``: seconds a PACS has to confirm a cancel before A-ABORT.
    The request and its responses: :func:`.find_exchange.exchange_find` (PS3.7 9.1.2).

    Yields: :class:`FindMatch` rows as they arrive. Errors (raised after the rows, or in
    ``result.error``): the association's (:func:`.association.open_association`); a
    refusal's :class:`.errors.DimseFailure` by status; :class:`SearchCutShort` (0xFE00 we
    did not ask for); :class:`.errors.UnreadableResults`; ProtocolViolation or
    MessageTooLarge; DeadlineExceeded; PeerTimeout; the error of a PACS that ended the
    association (:func:`.find_exchange.peer_ended_error`). A cancel is not an error:
    ``result.cancelled``.
    """

    def __init__(self, pacs: PacsNode, query: FindQuery, executor: Executor, *,
                 limit: int | None = None, cancel_grace: float = 5.0,
                 raise_on_error: bool = True,
                 other_models: tuple[QueryModel, ...] = ()) -> None:
        super().__init__(pacs, executor, cancel_grace=cancel_grace)
        self.query = query
        self.models = find_models(query, other_models)
        self._model_used: QueryModel | None = None
        self.limit = limit
        self.raise_on_error = raise_on_error

    async def _iterate(self) -> AsyncIterator[FindMatch]:
        async for match in super()._iterate():
            yield match
        if self.raise_on_error and self.result.error is not None:
            raise self.result.error

    def _work(self, channel: Channel[FindMatch]) -> FindResult:
        """Runs on: DIMSE worker thread."""
        started = time.monotonic()
        count = 0
        status: int | None = None
        error: CourierError | None = None
        peer = peer_of(self.pacs)
        level = self.query.level
        unreadable = _UnreadableTally()
        batch: list[FindMatch] = []
        flushed = started
        try:
            assoc = open_association(self.pacs, [m.find_uid for m in self.models],
                                     self.control)
            query = query_in(self.query, accepted_model(assoc, self.models))
            model_uid, self._model_used = query.model.find_uid, query.model

            def on_pending(response: DimseResponse) -> None:
                nonlocal count, batch, flushed
                if self.limit is not None and count >= self.limit:
                    return  # arrived before the PACS saw our C-CANCEL: not shown
                match = unreadable.decode(response, level)
                if match is None:
                    return
                count += 1
                batch.append(match)
                # Hand over when the batch is full, old, or the PACS has nothing more
                # queued (a slow PACS's rows show as they come).
                now = time.monotonic()
                if (len(batch) >= _BATCH_SIZE or now - flushed >= _BATCH_SECONDS
                        or not (response.more_buffered or assoc.dimse.msg_queue.qsize())):
                    channel.put_many(batch)
                    batch, flushed = [], now
                if self.limit is not None and count >= self.limit:
                    # C-CANCEL with its grace: a PACS that ignores it is aborted after
                    # cancel_grace seconds (still a success).
                    self._cancel_from_worker()

            def hand_over_held() -> None:  # the reader waits for the PACS: show what came
                nonlocal batch, flushed
                if batch:
                    channel.put_many(batch)
                    batch, flushed = [], time.monotonic()

            flushed = time.monotonic()
            exchange = exchange_find(
                assoc, query.to_identifier(), model_uid, self.control, on_pending,
                lambda ended: self._no_status_error(count, ended),
                on_end=lambda: channel.put_many(batch), on_wait=hand_over_held)
            status, error = exchange.status, exchange.error
            if exchange.final and status is not None and status not in (0x0000, 0xFE00):
                error = failure_for_status(status, operation="search", peer=peer,
                                           comment=exchange.comment,
                                           model=query.model.value)
        except CourierError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - pynetdicom on bytes it did not expect
            error = unexpected_error(exc, self.pacs, "search")
        finally:
            channel.close()
        guard = self.control.guard
        if guard is not None and guard.data_set_missing and self.control.abort_reason is None \
                and not self.cancel_requested:  # an answer cut off by our cancel is not one
            # The search ended early (the error says how): that answer is one more that
            # cannot be read, and the error that ended the search keeps its words.
            unreadable.note_missing_data_set()
        if error is None and unreadable.count:
            error = unreadable.error(peer, count)
        elif error is not None and unreadable.count:
            error.extra_details["Answers that could not be read"] = str(unreadable.count)
        if status == 0xFE00 and not self.cancel_requested and \
                (error is None or isinstance(error, UnreadableResults)):
            cut = search_cut_short(peer, count)  # the PACS cut it short: not our cancel
            if unreadable.count:
                cut.extra_details["Answers that could not be read"] = str(unreadable.count)
            error = cut
        cancelled = (status == 0xFE00 and self.cancel_requested) or \
            (error is None and self.cancel_requested and status is None)
        if isinstance(error, Cancelled):
            cancelled, error = True, None
        return FindResult(count=count, status=status, duration=time.monotonic() - started,
                          cancelled=cancelled, error=error, unreadable=unreadable.count,
                          model=self._model_used)

    def _no_status_error(self, count: int, exchange: FindExchange) -> CourierError:
        """Why the search's responses stopped before the final one, after ``count`` matches
        (:func:`.find_exchange.early_end`). Runs on: DIMSE worker thread."""
        peer = peer_of(self.pacs)
        timeouts = self.pacs.timeouts
        sofar = {"Results received before": str(count)}
        fault = guard_error(self.control, self.pacs, "search", sofar)
        if fault is not None:
            return fault
        end = early_end(self.control, exchange, timeouts.idle)
        if end is EarlyEnd.DEADLINE:
            return DeadlineExceeded(
                f"The search did not finish within its deadline of {timeouts.total:g} s.",
                f"{peer.called_aet} kept sending results ({count} so far).",
                "Narrow the search (date range, modality) or raise the total deadline.",
                peer=peer)
        if end is EarlyEnd.STOPPED:
            return Cancelled("The search was cancelled.",
                             f"{count} results arrived before it ended.", "", peer=peer)
        if end is EarlyEnd.CANCEL_UNCONFIRMED:  # PS3.4 C.4.1.3.1: it ended the search
            return Cancelled("The search was cancelled.",
                             f"{peer.called_aet} ended the association after our cancel "
                             f"instead of confirming it; {count} results arrived before.", "",
                             peer=peer)
        if end is EarlyEnd.IDLE:
            return PeerTimeout(
                f"{peer.called_aet} stopped answering for {timeouts.idle:g} s.",
                f"No response came within the idle timeout; {count} results arrived before.",
                "Retry; for a slow PACS raise the idle timeout in the profile.", peer=peer)
        return peer_ended_error(self.control, peer, "search", count, sofar)

    def _cancel_from_worker(self) -> None:
        """Runs on: DIMSE worker thread. Cancel through the loop, so the grace timer runs."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self.cancel)
