"""Every failure a person can meet, as a typed exception with plain words and a next step.

Each error carries three things a dialog or the command line renders as they are:
``title`` (what happened, one line), ``explanation`` (why, in plain words) and ``action``
(what to do, and where to configure it). ``action`` names only what the window can do (the
window shows it as it is); where the command line has its own way (``dicom-courier nodes
test``), the error also carries ``cli_action``, which the command line prints instead
(:attr:`CourierError.command_line_action`). Technical facts (AE titles, host, port, status code,
the peer's error comment) go into ``details`` for a "Details" section and for support.
``retryable`` says whether trying again later may help (a transient fault) or not.

The engine's one error convention:

- Every failure a person can meet is a :class:`CourierError` subclass: from this module, or
  defined next to the rule that finds it and named there (``tls.TlsError``,
  ``destination_check.DestinationFault``, ``find.SearchCutShort``, ``store_errors.StoreError``,
  ``settings.SettingsFileError``). pynetdicom's, pydicom's and the OS's exceptions are
  translated where they happen (``association.unexpected_error``); anything else that escapes
  is a bug.
- Raised or reported depends on whether there is partial work to keep. ``Courier.echo`` has
  none: it returns on success and raises otherwise. A find yields its matches, puts a failure
  in ``FindResult.error`` and (``raise_on_error``, the default) raises it from the iteration
  after the matches that arrived. A move never raises for a failed send: the ``MoveResult``
  carries the outcome, the counts and ``error`` (even when no association came up). The queue
  turns that into a finished job; ``MoveQueue.submit`` raises ``StoreError`` when ``jobs.db``
  cannot record the job (then nothing was queued).
- A person's cancel (``.cancel()`` on an operation or a queued job) is reported, not raised: a
  find's ``FindResult.cancelled`` (its ``error`` stays None), a move's outcome CANCELLED with a
  :class:`Cancelled` error; only ``echo`` raises :class:`Cancelled`. Cancelling the asyncio
  task that awaits a call raises ``asyncio.CancelledError`` as usual (and aborts the
  association).
- Calling the API wrongly (iterating an operation twice, retrying a job that is not finished,
  an unknown job id) raises ``RuntimeError``, ``ValueError`` or ``KeyError``: a bug of the
  caller, never shown to a person as a :class:`CourierError`.
- The class says *what happened*; ``retryable`` whether trying again later may help (the
  queue's automatic retries read it); ``status`` the DIMSE status, if any (plain words in
  :mod:`dicom_courier.core.outcome.status`). The keyword facts are the same for every class
  (:class:`ErrorContext`). Public calls name what they raise in their docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict, Unpack


@dataclass(frozen=True)
class Peer:
    """Who talked to whom: both AE titles and the address, named in every network error."""

    calling_aet: str
    called_aet: str
    host: str
    port: int

    def describe(self) -> str:
        return f"{self.called_aet} at {self.host}:{self.port} (we are {self.calling_aet})"

    def as_details(self) -> dict[str, str]:
        return {
            "Our AE title (calling)": self.calling_aet,
            "PACS AE title (called)": self.called_aet,
            "PACS address": f"{self.host}:{self.port}",
        }


class ErrorContext(TypedDict, total=False):
    """The technical facts every :class:`CourierError` takes by keyword, none required.

    Build one dict of them and pass it to several error classes with ``**context``.
    """

    peer: Peer | None
    status: int | None
    comment: str | None
    details: Mapping[str, str] | None


class CourierError(Exception):
    """Base of every error DICOM Courier reports to a person."""

    retryable: bool = False

    def __init__(
        self,
        title: str,
        explanation: str,
        action: str,
        *,
        peer: Peer | None = None,
        status: int | None = None,
        comment: str | None = None,
        details: Mapping[str, str] | None = None,
        retryable: bool | None = None,
        cli_action: str | None = None,
    ) -> None:
        super().__init__(title)
        self.title = title
        self.explanation = explanation
        self.action = action  # the window's words: nothing a window user cannot do
        self.cli_action = cli_action  # the command line's, when they differ
        self.peer = peer
        self.status = status
        self.comment = comment
        self.extra_details = dict(details or {})
        if retryable is not None:
            self.retryable = retryable

    @property
    def command_line_action(self) -> str:
        """What to do, in the command line's words (``cli_action``, else ``action``)."""
        return self.cli_action or self.action

    @property
    def details(self) -> dict[str, str]:
        """Technical facts for the "Details" section, in a stable order."""
        out: dict[str, str] = {}
        if self.status is not None:
            out["DIMSE status"] = f"0x{self.status:04X}"
        if self.comment:
            out["Error comment from the PACS"] = self.comment
        if self.peer is not None:
            out.update(self.peer.as_details())
        out.update(self.extra_details)
        return out

    def render(self) -> str:
        """The whole message as plain text: title, explanation, action, details."""
        lines = [self.title, self.explanation, f"What to do: {self.action}"]
        lines += [f"  {key}: {value}" for key, value in self.details.items()]
        return "\n".join(line for line in lines if line)

    def __str__(self) -> str:
        return f"{self.title} {self.explanation}".strip()

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle every subclass as it is, whatever its ``__init__`` takes: the class and
        every attribute (title, explanation, action, cli_action, peer, status, comment,
        details, an instance's own ``retryable``, a subclass's own fields). The engine
        worker process (:mod:`dicom_courier.core.dimse.process_courier`) sends errors this
        way; the traceback and ``__cause__`` stay behind."""
        return (_rebuilt_error, (type(self), self.args, dict(self.__dict__)))


def _rebuilt_error(cls: type[CourierError], args: tuple[object, ...],
                   state: dict[str, object]) -> CourierError:
    """The error :meth:`CourierError.__reduce__` pickled, without calling ``cls.__init__``."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInput(CourierError):
    """A value a person typed breaks a rule; names the field and the rule."""

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        shown = ""
        if value is not None:  # a typed value of 5000 digits is shown by its start
            text = repr(value[:81] if isinstance(value, str) else value)
            shown = f" (got {text[:80]}…)" if len(text) > 80 else f" (got {text})"
        super().__init__(
            f"{field}: {rule}{shown}.",
            "",
            f"Correct {field} and try again.",
            details={"Field": field, "Rule": rule},
        )
        self.field = field
        self.rule = rule


# ---------------------------------------------------------------- connection and association


class ConnectionFailed(CourierError):
    """No TCP connection: refused, unreachable, timed out or an unknown host name."""

    retryable = True


class AssociationRejected(CourierError):
    """The PACS answered A-ASSOCIATE-RJ; ``permanent`` tells if retrying can help."""

    def __init__(self, title: str, explanation: str, action: str, *, permanent: bool,
                 reason: str, **context: Unpack[ErrorContext]) -> None:
        super().__init__(title, explanation, action, retryable=not permanent, **context)
        self.permanent = permanent
        self.reason = reason


class CallingAeNotRecognised(AssociationRejected):
    """The PACS does not know our AE title."""


class CalledAeNotRecognised(AssociationRejected):
    """The PACS is not called by the AE title we used."""


class AssociationAborted(CourierError):
    """The PACS (or the network) ended the association without a proper answer."""

    retryable = True


class ProtocolViolation(AssociationAborted):
    """The peer sent bytes that are not valid DICOM (PS3.8 9.3): we ended the association."""

    retryable = False


class MessageTooLarge(AssociationAborted):
    """One DIMSE message (or PDU) from the peer was larger than the profile's cap."""

    retryable = False


class PeerTimeout(CourierError):
    """The PACS stopped answering for longer than the idle timeout."""

    retryable = True


class DeadlineExceeded(CourierError):
    """The whole operation took longer than its total deadline (e.g. endless Pending)."""

    retryable = True


# ---------------------------------------------------------------- DIMSE statuses


class DimseFailure(CourierError):
    """The PACS answered with a failure status; ``status`` holds the code."""


class MoveDestinationUnknown(DimseFailure):
    """0xA801: the PACS has no address for the destination AE title."""


class OutOfResources(DimseFailure):
    """0xA700/0xA701/0xA702: the PACS could not do it now."""

    retryable = True


class IdentifierMismatch(DimseFailure):
    """0xA900: the request's keys do not fit the SOP class / query model."""


class UnableToProcess(DimseFailure):
    """0xCxxx: the PACS failed for its own reasons (with its error comment, if any)."""


class NotSupported(DimseFailure):
    """0x0122 / no accepted presentation context: the PACS does not offer this service."""


class PartialFailure(DimseFailure):
    """0xB000 or failed sub-operations: some images did not arrive."""


class Cancelled(CourierError):
    """A person cancelled; 0xFE00 or our own abort after the grace period."""


class UnreadableResults(CourierError):
    """Some C-FIND answers could not be decoded; the readable ones were kept."""


class NothingMatched(DimseFailure):
    """The PACS answered success but sent nothing: no image matched the request."""


class NoImageArrived(DimseFailure):
    """The move ended with sub-operations but not one image arrived at the destination."""


class ReceiverError(CourierError):
    """The built-in receiver (our Storage SCP) could not start: the port is taken, the bind
    address is not one of this computer's, the storage folder cannot be created."""
