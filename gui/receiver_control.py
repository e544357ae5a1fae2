"""The window's built-in receiver ("This computer"): started with the window when enabled.

:class:`WindowReceiver` owns the one :class:`~dicom_courier.core.dimse.receiver.Receiver` (a
Storage SCP, PS3.4 Annex B) of the window's process. It reads ``receiver.json``, starts the
receiver after the first paint (pynetdicom is imported then, not before: the window paints
first), restarts it when Preferences save new settings or the PACS profiles change its
allow-list, and stops it when the window closes. Arrivals go to the window's
:class:`~dicom_courier.core.dimse.arrival_hub.ArrivalHub` (the queue's ledger counts them);
refusals (disk full, an AE title not allowed, a UID that would leave the folder) come back
from the hub on pynetdicom's threads and are handed to the GUI thread with
``loop.call_soon_threadsafe``.

Nothing here is modal: a port that is taken or a folder that cannot be written is said in the
status bar's receiver label (and its tooltip), the window works on without the receiver.

Runs on: the GUI thread (the qasync loop), except :meth:`WindowReceiver._on_refusal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from dicom_courier.core.config.paths import AppPaths
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.receiver_settings import (
    ReceiverSettings,
    load_receiver_settings,
)
from dicom_courier.core.outcome.arrival import StoreRefusal
from dicom_courier.core.outcome.errors import CourierError

if TYPE_CHECKING:  # pynetdicom loads with the receiver, after the first paint
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.core.dimse.receiver import Receiver

LOGGER = logging.getLogger(__name__)


class WindowReceiver(QObject):
    """The window's receiver: settings, start/stop, and what it says about itself.

    ``hub``: the window's arrival hub; ``nodes``: the saved PACS profiles now (their AE titles
    are the default allow-list).
    """

    #: str: the receiver's state in one line ("" while it is off), for the status bar
    state_changed = Signal(str)
    #: str: something the receiver refused, in one sentence (no patient data)
    refused = Signal(str)
    #: ReceiverSettings: new settings were applied ("This computer" comes or goes)
    settings_changed = Signal(object)

    def __init__(self, paths: AppPaths, hub: ArrivalHub,
                 nodes: Callable[[], Sequence[PacsNode]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths = paths
        self.hub = hub
        self._nodes = nodes
        self.settings: ReceiverSettings = load_receiver_settings(paths.receiver_file)
        self._receiver: Receiver | None = None
        self._allow_key: object = None
        self.problem: str | None = None
        self.refusals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe = hub.subscribe_refusals(self._on_refusal)

    # ------------------------------------------------------------------ state

    @property
    def enabled(self) -> bool:
        """The person turned the receiver on (it may still have failed to start)."""
        return self.settings.enabled

    @property
    def running(self) -> bool:
        return self._receiver is not None and self._receiver.running

    @property
    def folder(self) -> Path:
        """Where received studies are written (the settings' folder, or the default)."""
        return self.settings.storage_folder(self._paths)

    @property
    def default_folder(self) -> Path:
        """The folder used when none is set."""
        return ReceiverSettings().storage_folder(self._paths)

    @property
    def ae_title(self) -> str:
        return self.settings.ae_title

    def profile_aets(self) -> list[str]:
        """The called AE titles of the saved PACS profiles (the default allow-list)."""
        return [node.called_aet for node in self._nodes()]

    def describe(self) -> str:
        """One line for the status bar: "" (off), "Receiving as COURIER on port 11112", or
        "Receiver not running: <what to do> (<why>)"."""
        if not self.enabled:
            return ""
        if self.problem is not None:
            # what to do first: a narrow status bar cuts the end, never the action
            return (f"⚠ Receiver not running: {problem_action(self.problem)} "
                    f"({self.problem})")
        if self._receiver is None:
            return f"Receiver {self.ae_title}: starting…"
        refused = f" · {self.refusals} refused" if self.refusals else ""
        return f"Receiving as {self._receiver.ae_title} on port {self._receiver.port}{refused}"

    # ------------------------------------------------------------------ start / stop

    def start(self) -> bool:
        """Start the receiver if it is enabled and not running; True when it runs. A port in
        use, an address that is not this computer's or a folder that cannot be written is
        kept in :attr:`problem` and announced (``state_changed``); nothing raises."""
        if not self.enabled or self.running:
            self._announce()
            return self.running
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_event_loop()
        from dicom_courier.core.config.receiver_settings import allow_list
        from dicom_courier.core.dimse.receiver import Receiver

        self.problem = None
        folder = self.folder
        nodes = list(self._nodes())
        try:
            receiver = Receiver(self.settings, folder, allow_list(self.settings, nodes),
                                self.hub)
            receiver.start()
        except CourierError as exc:  # ReceiverError: "Port 11112 is already in use …"
            self.problem = exc.title
        except OSError as exc:  # the folder cannot be made or written
            self.problem = (f"the storage folder {folder} cannot be used: "
                            f"{exc.strerror or exc}")
        else:
            self._receiver = receiver
            self._allow_key = self._allow_of(nodes)
        if self.problem is not None:
            LOGGER.warning("The receiver did not start: %s", self.problem)
        self._announce()
        return self.running

    def stop(self) -> None:
        """Stop the receiver (idempotent); open associations are ended."""
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            try:
                receiver.stop()
            except Exception:  # stopping must never keep the window from closing
                LOGGER.exception("The receiver did not stop cleanly")
        self._announce()

    def close(self) -> None:
        """Stop, and hear no more refusals (the window is closing)."""
        self._unsubscribe()
        self.stop()

    def apply(self, settings: ReceiverSettings) -> None:
        """New settings (Preferences saved them). Only a new AE title, port, listen address,
        folder or on/off restarts the receiver; new allowed senders or address check go to
        the running receiver in place (read at each A-ASSOCIATE-RQ), so a study on its way
        here is not aborted."""
        if settings == self.settings:
            return
        if self.running and _same_listener(settings, self.settings):
            self._set_allow(settings)
            self.settings_changed.emit(settings)
            return
        self.stop()
        self.settings = settings
        self.problem = None
        self.refusals = 0
        self.start()
        self.settings_changed.emit(settings)

    def profiles_changed(self) -> None:
        """The PACS profiles were saved: when the allow-list follows them and changed, the
        running receiver takes the new one for the next association. It is not restarted:
        that would abort a study on its way here (the receiver reads its allow-list at each
        A-ASSOCIATE-RQ)."""
        receiver = self._receiver
        nodes = list(self._nodes())
        if receiver is None or not self.running or self._allow_of(nodes) == self._allow_key:
            return
        from dicom_courier.core.config.receiver_settings import allow_list

        receiver.allow = allow_list(self.settings, nodes)  # one attribute, read per request
        self._allow_key = self._allow_of(nodes)

    def _set_allow(self, settings: ReceiverSettings) -> None:
        """Take ``settings`` (same listener) and give the running receiver its allow-list."""
        from dicom_courier.core.config.receiver_settings import allow_list

        self.settings = settings
        nodes = list(self._nodes())
        receiver = self._receiver
        if receiver is not None:
            receiver.allow = allow_list(settings, nodes)  # one attribute, read per request
        self._allow_key = self._allow_of(nodes)
        self._announce()

    def _allow_of(self, nodes: list[PacsNode]) -> object:
        if self.settings.allowed_aets is not None and not self.settings.check_address:
            return None  # the list is the settings' own: profiles do not change it
        return tuple(sorted((node.called_aet, node.host) for node in nodes))

    def _announce(self) -> None:
        self.state_changed.emit(self.describe())

    # ------------------------------------------------------------------ refusals

    def _on_refusal(self, refusal: StoreRefusal) -> None:
        """Runs on: a pynetdicom association thread. Hops to the GUI thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the window is gone
            loop.call_soon_threadsafe(self._show_refusal, refusal)

    def _show_refusal(self, refusal: StoreRefusal) -> None:
        self.refusals += 1
        self.refused.emit(refusal_words(refusal))
        self._announce()


def problem_action(problem: str) -> str:
    """What to do about a receiver that did not start, in a few words for the status bar:
    "change the port in Preferences → This computer" (the error's whole advice is in its
    catalogue entry; this names the one setting to change)."""
    text = problem.casefold()
    if "port" in text:
        setting = "the port"
    elif "folder" in text:
        setting = "the storage folder"
    elif "address" in text:
        setting = "the listen address"
    else:
        setting = "its settings"
    return f"change {setting} in Preferences → This computer"


def _same_listener(new: ReceiverSettings, old: ReceiverSettings) -> bool:
    """True when ``new`` listens as ``old`` does (on, AE title, port, address, folder): only
    who may send changed."""
    return (new.enabled, new.ae_title, new.port, new.bind, new.folder) == \
        (old.enabled, old.ae_title, old.port, old.bind, old.folder)


def refusal_words(refusal: StoreRefusal) -> str:
    """A refusal as the window says it: "This computer refused an image from ORTHANC: the
    disk is full …" (the reason is the receiver's own sentence, without patient data)."""
    peer = refusal.calling_aet or refusal.address
    source = f" from {peer}" if peer else ""
    what = "an image" if refusal.status is not None else "a connection"
    status = f" (status 0x{refusal.status:04X})" if refusal.status is not None else ""
    return f"This computer refused {what}{source}: {refusal.reason}{status}"
