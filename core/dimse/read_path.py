"""Which reader takes a C-FIND's or C-MOVE's responses off the wire: ours or pynetdicom's.

``COURIER_READ_PATH=lean`` (the default) reads them with :mod:`.lean_reader`;
``COURIER_READ_PATH=pynetdicom`` with pynetdicom's own response generators (PS3.7 9.1.2,
9.1.4), for comparison in tests and benchmarks, or as a fallback in the field. Read at the
start of each exchange, so a test can switch it with ``monkeypatch.setenv``.

C-GET (PS3.4 C.4.3, :mod:`.get`) is never read by the lean reader, whatever this says: its
C-STORE sub-operations come as requests on the same association between the responses, and
only pynetdicom's reader and its C-STORE SCP answer them.

Nothing here imports Qt.
"""

from __future__ import annotations

import os

#: The environment variable that chooses the read path.
READ_PATH_ENV = "COURIER_READ_PATH"
#: Our own reader of P-DATA-TF PDUs (:mod:`.lean_reader`).
LEAN = "lean"
#: pynetdicom's reader thread, DIMSE assembly and response generators.
PYNETDICOM = "pynetdicom"


def read_path() -> str:
    """:data:`LEAN` or :data:`PYNETDICOM`, from :data:`READ_PATH_ENV` (anything but
    "pynetdicom", case and spaces aside, means lean)."""
    value = os.environ.get(READ_PATH_ENV, LEAN).strip().lower()
    return PYNETDICOM if value == PYNETDICOM else LEAN
