"""Where the window's DIMSE work runs: in an engine worker process, or on threads of its own.

``COURIER_ENGINE=process`` runs every C-ECHO, C-FIND and C-MOVE in one worker process
(:class:`~dicom_courier.core.dimse.process_courier.ProcessCourier`), so that no network work
competes with the window for the interpreter lock (issue 12 §2); ``COURIER_ENGINE=thread``
runs them on DIMSE threads of the window's own process (:class:`.engine.Courier`). The window
started by ``dicom-courier`` uses the process by default; ``create_main_window`` (tests,
embedding) and the command line use threads unless told otherwise.

Nothing here imports Qt or pynetdicom: the window reads it before its first paint.
"""

from __future__ import annotations

import os

#: The environment variable that chooses the engine.
ENGINE_ENV = "COURIER_ENGINE"
#: DIMSE work in one engine worker process (:mod:`.process_courier`).
PROCESS = "process"
#: DIMSE work on threads of the calling process (:class:`.engine.Courier`).
THREAD = "thread"


def engine_choice(default: str) -> str:
    """:data:`PROCESS` or :data:`THREAD`: what :data:`ENGINE_ENV` says (case and spaces
    aside), else ``default`` (one of the two; an unknown value is ignored)."""
    value = os.environ.get(ENGINE_ENV, "").strip().lower()
    return value if value in (PROCESS, THREAD) else default
