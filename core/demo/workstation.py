"""The demo workstation: a storage SCP that C-MOVE sub-operations deliver to.

It stands in for the radiologist's viewer in the demo and the tests: it accepts every storage
SOP class (PS3.4 Annex B) in every transfer syntax we know, and files each instance as
``<folder>/<StudyInstanceUID>/<SOPInstanceUID>.dcm`` without re-encoding it. ``fail_every``
makes it refuse some stores, so a move's partial-failure path can be exercised on demand.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from pydicom.uid import UID, AllTransferSyntaxes
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification

from dicom_courier.core.demo.serving import BackgroundScp, ServedAe

LOGGER = logging.getLogger(__name__)

# C-STORE statuses, PS3.4 B.2.3.
_SUCCESS = 0x0000
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000

_TRANSFER_SYNTAXES = list(dict.fromkeys([*ALL_TRANSFER_SYNTAXES, *AllTransferSyntaxes]))


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half an instance."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _safe_uid(value: object) -> str | None:
    """``value`` as a UID fit for a path component, or None (never let a peer pick '..')."""
    uid = UID(str(value or "").strip())
    return str(uid) if uid and uid.is_valid else None


class Workstation(ServedAe):
    """An in-process storage SCP writing what it receives under ``folder``.

    ``fail_every=N`` answers Out of Resources (0xA700) to every Nth C-STORE, writing nothing.
    Counters are safe to read from any thread while stores arrive.
    """

    def __init__(
        self,
        folder: Path,
        ae_title: str = "WORKSTATION",
        host: str = "127.0.0.1",
        port: int = 0,
        fail_every: int = 0,
        store_delay: float = 0.0,
    ) -> None:
        if fail_every < 0:
            raise ValueError("fail_every must not be negative")
        self.folder = Path(folder)
        super().__init__(ae_title, host, port)
        self.fail_every = fail_every
        #: Seconds each C-STORE takes, so a move into this workstation is slow enough to
        #: cancel, or to kill its PACS, mid-way.
        self.store_delay = store_delay
        self._lock = threading.Lock()
        self._attempts = 0
        self._received: dict[str, Path] = {}
        self._failed: list[str] = []

    # lifecycle (start, stop, port, context manager: ServedAe)

    def _configure(self, ae: AE) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:  # always set in pynetdicom's list
                ae.add_supported_context(context.abstract_syntax, _TRANSFER_SYNTAXES)

    def _handlers(self, scp: BackgroundScp) -> list[evt.EventHandlerType]:
        return [
            (evt.EVT_C_ECHO, lambda event: _SUCCESS),
            (evt.EVT_C_STORE, scp.tracked(self._on_store)),
        ]

    # what arrived

    @property
    def received_count(self) -> int:
        """Instances stored successfully (a resent instance counts once)."""
        with self._lock:
            return len(self._received)

    def received_uids(self) -> set[str]:
        """SOP Instance UIDs stored successfully."""
        with self._lock:
            return set(self._received)

    def failed_uids(self) -> list[str]:
        """SOP Instance UIDs refused on purpose by ``fail_every``, in arrival order."""
        with self._lock:
            return list(self._failed)

    def path_of(self, sop_instance_uid: str) -> Path | None:
        with self._lock:
            return self._received.get(sop_instance_uid)

    # handler — Runs on: the association's pynetdicom thread

    def _on_store(self, event: Event) -> int:
        if self.store_delay:
            time.sleep(self.store_delay)
        request = event.request
        assert isinstance(request, C_STORE)  # pynetdicom calls this for EVT_C_STORE only
        sop_uid = _safe_uid(request.AffectedSOPInstanceUID)
        with self._lock:
            self._attempts += 1
            refuse = bool(self.fail_every) and self._attempts % self.fail_every == 0
            if refuse:
                self._failed.append(sop_uid or "")
        if refuse:
            return _OUT_OF_RESOURCES
        try:
            study_uid = _safe_uid(event.dataset.get("StudyInstanceUID"))
            data = event.encoded_dataset(include_meta=True)
        except Exception:
            LOGGER.warning("Workstation %s could not decode a C-STORE dataset", self.ae_title)
            return _CANNOT_UNDERSTAND
        if sop_uid is None or study_uid is None:
            return _CANNOT_UNDERSTAND
        path = self.folder / study_uid / f"{sop_uid}.dcm"
        try:
            _write_atomically(path, data)
        except OSError:
            LOGGER.exception("Workstation %s could not write an instance", self.ae_title)
            return _OUT_OF_RESOURCES
        with self._lock:
            self._received[sop_uid] = path
        return _SUCCESS
