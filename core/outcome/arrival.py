"""What arrived where: the built-in receiver's arrivals and the arrival check's answer.

Both cross threads and processes (frozen, picklable, no pydicom objects). An :class:`Arrival`
is one instance the receiver (a Storage SCP, PS3.4 Annex B) or a C-GET (PS3.4 C.4.3) wrote to
disk; an :class:`ArrivalCheck` is what the check after a send found at its destination:
per-series instance counts from a C-FIND of the destination (PS3.4 C.4.1, SERIES/IMAGE level)
or the files on disk for "This computer", against what the source PACS reported.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The ``--dest`` word (CLI) and the destination entry (window) for the built-in receiver.
HERE = "@here"
#: How people see the built-in receiver as a destination.
THIS_COMPUTER = "This computer"


def shown_destination(destination: str) -> str:
    """A destination as a person reads it: :data:`THIS_COMPUTER` for :data:`HERE` (the
    machine value kept in ``jobs.db``, JSON and ``--dest``), any AE title as it is."""
    return THIS_COMPUTER if destination == HERE else destination


@dataclass(frozen=True)
class Arrival:
    """One instance written to disk (the file is complete and renamed into place).

    ``calling_aet`` is the AE title that sent it (the peer of the C-STORE); ``path`` is the
    file's absolute path as text; ``size`` its size in bytes. UIDs are as the sender sent them
    (stripped of padding), ``patient_id`` may be "".
    """

    calling_aet: str
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    path: str
    size: int


@dataclass(frozen=True)
class SeriesCount:
    """Instances of one series: ``expected`` as the source PACS reported them (None: not known),
    ``found`` at the destination."""

    series_uid: str
    expected: int | None
    found: int


@dataclass(frozen=True)
class ArrivalCheck:
    """What the arrival check found for one send.

    ``where`` names the destination as people know it ("WS3", "This computer");
    ``expected`` is the number of instances the source PACS reported (None: not known);
    ``found`` how many of them the destination holds; ``waited`` the seconds spent waiting and
    re-checking; ``error`` a plain sentence when the destination could not be checked at all
    (then ``found`` is 0 and means nothing).
    """

    where: str
    expected: int | None
    found: int
    waited: float
    series: tuple[SeriesCount, ...] = ()
    error: str | None = None

    @property
    def verified(self) -> bool:
        """Every expected instance is at the destination (and the count was known)."""
        return self.error is None and self.expected is not None and self.found >= self.expected

    def words(self) -> str:
        """The queue row's and history's words: "verified at destination: 120/120",
        "destination has 1 of 8 after 30 s", "not checked: <reason>"."""
        if self.error is not None:
            return f"not checked: {self.error}"
        if self.expected is None:
            return f"destination has {self.found} (the PACS reported no count)"
        if self.verified:
            return f"verified at destination: {self.found}/{self.expected}"
        return f"destination has {self.found} of {self.expected} after {self.waited:.0f} s"


@dataclass(frozen=True)
class StoreRefusal:
    """Something the built-in receiver refused, for the person to see (CLI line, window).

    ``reason`` is one plain sentence without patient data ("The disk is full: …", "KNOWN_AE
    at 10.0.0.9 is not allowed to send here"); ``calling_aet`` and ``address`` name the peer
    when known (else ""); ``status`` is the C-STORE status we answered (PS3.4 B.2.3: 0xA700 out
    of resources, 0xA900 data set does not match, 0xC000 cannot understand), None for a refused
    association (A-ASSOCIATE-RJ, PS3.8 7.1.1.9).
    """

    reason: str
    calling_aet: str = ""
    address: str = ""
    status: int | None = None
