"""The receiver's writer: one received C-STORE data set → one Part 10 file, atomically.

Used by the built-in Storage SCP (:mod:`.receiver`, PS3.4 Annex B) and by C-GET (PS3.4 C.4.3).
The data set is written as it came over the network (no decoding of pixel data, no
re-encoding): the 128-byte preamble, ``DICM``, a file meta information group of our own
(PS3.10 7.1: the SOP Class/Instance UIDs of the C-STORE command, the negotiated transfer
syntax, our implementation UID and, in (0002,0016) Source Application Entity Title, the AE
title that sent it), then the received bytes.

Layout: ``folder/<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``. A UID from the peer is
used only when it is a UID (digits and dots, at most 64 characters); the Patient ID is made
a safe folder name (see :func:`patient_folder_name`). The final path must resolve inside
``folder``. Anything else is refused (:class:`StoreRefused`) and logged without patient data.

Statuses (PS3.4 B.2.3), carried by :class:`StoreRefused`:

- ``0xA700`` Refused: Out of Resources — the disk is full or the folder cannot be written;
- ``0xA900`` Error: Data Set does not match SOP Class — the data set's (0008,0016) SOP Class
  UID or (0008,0018) SOP Instance UID differs from the C-STORE command's Affected SOP
  Class/Instance UID;
- ``0xC000`` Error: Cannot understand — a UID that is not a UID (``../../x``), a data set
  that cannot be read, or one without Study/Series Instance UID.

Runs on: any thread (pynetdicom's association threads, the C-GET worker); thread-safe: every
write goes to its own temporary file and is renamed into place (two stores of one SOP
Instance UID: the last one wins, each file whole).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from pydicom.filereader import read_dataset
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

from dicom_courier.core.config.private_files import make_private_dir
from dicom_courier.core.outcome.arrival import Arrival

log = logging.getLogger(__name__)

#: PS3.4 B.2.3 C-STORE failure statuses used by the writer.
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000

#: Ours, in every file's meta (0002,0012) / (0002,0013): stable across runs.
IMPLEMENTATION_CLASS_UID = str(generate_uid(PYDICOM_ROOT_UID, ["dicom-courier implementation"]))
IMPLEMENTATION_VERSION_NAME = "DICOM_COURIER"

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"

_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*\Z")
_SAFE_NAME_CHAR = re.compile(r"[^A-Za-z0-9._\- ^=+,@]")
#: Longest Patient ID folder name kept before the hash suffix (PS3.5: LO is 64 characters).
_NAME_LIMIT = 64
#: Names Windows keeps for devices, refused there as folder names whatever the extension.
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                       *(f"LPT{i}" for i in range(1, 10))})
#: Errors of the disk or the folder, answered 0xA700 (anything else from the OS too).
_DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
                errno.EROFS: "the disk is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied"}

_PATIENT_ID = 0x00100020
_STUDY_UID = 0x0020000D
_SERIES_UID = 0x0020000E
_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_WANTED = [_SOP_CLASS, _SOP_INSTANCE, _PATIENT_ID, _STUDY_UID, _SERIES_UID]
#: The first bytes of a data set read for its identifying elements (all of it if they are
#: not all there): a 0.5 MB instance is not copied to find five elements at its start.
_HEAD = 16 * 1024
_NEEDED = frozenset({_SOP_INSTANCE, _STUDY_UID, _SERIES_UID})
#: A deflated data set is inflated only this far to read its identifying elements (bytes).
_INFLATE_LIMIT = 4 * 1024 * 1024


class StoreRefused(Exception):
    """A C-STORE we answer with a failure ``status`` (PS3.4 B.2.3); ``reason`` is one plain
    sentence without patient data (it is logged and shown to the person)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def is_uid(value: str) -> bool:
    """Digits and dots, no empty component, at most 64 characters (PS3.5 9.1; leading zeros
    in a component are tolerated: some archives send them, and they are safe in a path)."""
    return 0 < len(value) <= 64 and _UID.match(value) is not None


#: The folder of instances without a Patient ID (see :func:`patient_folder_name`).
NO_PATIENT_ID = "no-patient-id~"


def patient_folder_name(patient_id: str) -> str:
    """A Patient ID as one safe folder name.

    Kept as it is when it is already safe: letters, digits and ``. _ - ^ = + , @`` and
    inner spaces, at most 64 characters, not starting with ``.``, not a Windows device name.
    Otherwise every other character becomes ``_``, the text is cut to 64 characters, and
    ``~`` + 8 hex digits of the original's SHA-256 are appended, so two different IDs never
    share a folder. An empty ID is :data:`NO_PATIENT_ID` (``no-patient-id~``: a ``~`` not
    followed by 8 hex digits, a name no real ID maps to; the ID ``_`` keeps ``_``).
    """
    if not patient_id:
        return NO_PATIENT_ID
    name = _SAFE_NAME_CHAR.sub("_", patient_id).strip(" ")
    safe = (name == patient_id and len(name) <= _NAME_LIMIT and not name.startswith(".")
            and name.split(".")[0].upper() not in _RESERVED)
    if safe:
        return name
    name = name[:_NAME_LIMIT].lstrip(".") or "_"
    digest = hashlib.sha256(patient_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name}~{digest}"


def write_instance(folder: Path, dataset: bytes, *, transfer_syntax: str, sop_class_uid: str,
                   sop_uid: str, calling_aet: str, our_aet: str, fsync: bool = False,
                   belongs: Callable[[str, str, str], str | None] | None = None) -> Arrival:
    """Write one received instance as ``folder/<PatientID>/<Study>/<Series>/<SOP>.dcm``.

    ``dataset``: the encoded data set bytes as received (bytes, bytearray or memoryview), in
    ``transfer_syntax``; ``sop_class_uid``/``sop_uid``: the C-STORE command's Affected SOP
    Class/Instance UID (PS3.7 9.1.1); ``calling_aet``: the sender (written to (0002,0016));
    ``our_aet``: our AE title (logged). ``fsync``: flush the file to the disk before the
    rename (slower; off by default, like DCMTK's storescp). ``belongs``: for a C-GET, a
    check of the data set's (study, series, SOP Instance) UIDs before anything is written: a
    plain reason (no patient data) refuses it with ``0xC000``, None accepts it.

    Returns the :class:`Arrival` (absolute path, size in bytes). Raises :class:`StoreRefused`
    (see the module's status table); then no file, temporary or final, is left behind.
    """
    sop_class_uid = _clean(sop_class_uid)
    sop_uid = _clean(sop_uid)
    if not is_uid(sop_uid) or not is_uid(sop_class_uid):
        raise _refuse(CANNOT_UNDERSTAND, "its SOP Instance or SOP Class UID is not a DICOM UID",
                      calling_aet, our_aet)
    values = _identifying_values(dataset, transfer_syntax, calling_aet, our_aet)
    if values.get(_SOP_INSTANCE, sop_uid) != sop_uid:
        raise _refuse(DOES_NOT_MATCH, "the data set's SOP Instance UID differs from the "
                      "C-STORE command's", calling_aet, our_aet)
    if values.get(_SOP_CLASS, sop_class_uid) != sop_class_uid:
        raise _refuse(DOES_NOT_MATCH, "the data set's SOP Class UID differs from the "
                      "C-STORE command's", calling_aet, our_aet)
    study_uid = values.get(_STUDY_UID, "")
    series_uid = values.get(_SERIES_UID, "")
    if not is_uid(study_uid) or not is_uid(series_uid):
        raise _refuse(CANNOT_UNDERSTAND, "its Study or Series Instance UID is missing or not "
                      "a DICOM UID", calling_aet, our_aet)
    if belongs is not None:
        why = belongs(study_uid, series_uid, sop_uid)
        if why is not None:
            raise _refuse(CANNOT_UNDERSTAND, why, calling_aet, our_aet)
    patient_id = values.get(_PATIENT_ID, "")
    root = folder.resolve()
    target_dir = root / patient_folder_name(patient_id) / study_uid / series_uid
    target = target_dir / f"{sop_uid}.dcm"
    if not target.resolve().is_relative_to(root):  # a symlink inside the folder pointing out
        raise _refuse(CANNOT_UNDERSTAND, "its file would be written outside the receiver's "
                      "folder", calling_aet, our_aet)
    meta = file_meta(sop_class_uid, sop_uid, transfer_syntax, calling_aet)
    size = _write_atomically(target_dir, target, meta, dataset, fsync, calling_aet, our_aet)
    return Arrival(calling_aet=calling_aet, patient_id=patient_id, study_uid=study_uid,
                   series_uid=series_uid, sop_uid=sop_uid, sop_class_uid=sop_class_uid,
                   path=str(target), size=size)


def file_meta(sop_class_uid: str, sop_uid: str, transfer_syntax: str, calling_aet: str) -> bytes:
    """The preamble, ``DICM`` and the File Meta Information group (PS3.10 7.1), Explicit VR
    Little Endian, as bytes."""
    elements = b"".join((
        _element(0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, b"UI", _uid_bytes(sop_class_uid)),
        _element(0x0003, b"UI", _uid_bytes(sop_uid)),
        _element(0x0010, b"UI", _uid_bytes(transfer_syntax)),
        _element(0x0012, b"UI", _uid_bytes(IMPLEMENTATION_CLASS_UID)),
        _element(0x0013, b"SH", _text_bytes(IMPLEMENTATION_VERSION_NAME)),
        _element(0x0016, b"AE", _text_bytes(_ae_value(calling_aet))),
    ))
    group_length = _element(0x0000, b"UL", struct.pack("<I", len(elements)))
    return b"\x00" * 128 + b"DICM" + group_length + elements


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":  # PS3.5 7.1.2: OB has 2 reserved bytes and a 4-byte length
        return struct.pack("<HH", 0x0002, element) + vr + b"\x00\x00" + struct.pack(
            "<I", len(value)) + value
    return struct.pack("<HH", 0x0002, element) + vr + struct.pack("<H", len(value)) + value


def _uid_bytes(uid: str) -> bytes:
    raw = uid.encode("ascii", "replace")
    return raw + b"\x00" if len(raw) % 2 else raw


def _text_bytes(text: str) -> bytes:
    raw = text.encode("ascii", "replace")
    return raw + b" " if len(raw) % 2 else raw


def _ae_value(aet: str) -> str:
    """An AE title fit for (0002,0016): printable ASCII without backslash, 16 characters."""
    return "".join(c if " " <= c <= "~" and c != "\\" else "_" for c in aet.strip())[:16]


def _clean(uid: str) -> str:
    return str(uid).strip(" \x00")


def _refuse(status: int, why: str, calling_aet: str, our_aet: str) -> StoreRefused:
    log.warning("Refused a C-STORE from %r to %r (status 0x%04X): %s", calling_aet, our_aet,
                status, why)
    return StoreRefused(status, f"An instance from {calling_aet} was refused: {why}.")


def _identifying_values(dataset: bytes, transfer_syntax: str, calling_aet: str,
                        our_aet: str) -> dict[int, str]:
    """The Patient ID, Study/Series/SOP Instance UIDs and SOP Class UID of the data set, read
    without decoding anything else (a few tens of µs for a 0.5 MB instance)."""
    syntax = _clean(transfer_syntax)
    data: bytes | memoryview = dataset
    try:
        if syntax == DEFLATED_EXPLICIT_VR_LE:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(dataset, _INFLATE_LIMIT)
        implicit = syntax == IMPLICIT_VR_LE
        little = syntax != EXPLICIT_VR_BE
        values: dict[int, str] | None = None
        if len(data) > _HEAD:  # the identifying elements are near the start: read that first
            stopped: list[bool] = []
            try:
                values = _read_values(data[:_HEAD], implicit, little, stopped)
            except Exception:  # noqa: BLE001  (cut mid-element: read it all below)
                values = None
            # Kept only when an element after (0020,000E) began inside the head: then every
            # wanted element was read whole.
            if not stopped or values is None or not _NEEDED.issubset(values):
                values = None
        if values is None:
            values = _read_values(data, implicit, little)
    except Exception as error:  # noqa: BLE001  (a peer's bytes: anything may fail)
        log.warning("Could not read a data set from %r to %r: %s", calling_aet, our_aet,
                    type(error).__name__)
        raise StoreRefused(CANNOT_UNDERSTAND, f"An instance from {calling_aet} was refused: "
                           "its data set could not be read.") from None
    for tag in (_SOP_CLASS, _SOP_INSTANCE, _STUDY_UID, _SERIES_UID):
        if tag in values:
            values[tag] = values[tag].strip(" \x00")
    if _PATIENT_ID in values:
        values[_PATIENT_ID] = values[_PATIENT_ID].strip(" \x00")
    return values


def _read_values(data: bytes | memoryview, implicit: bool, little: bool,
                 stopped: list[bool] | None = None) -> dict[int, str]:
    def stop(tag: int, _vr: str | None, _length: int) -> bool:
        if tag > _SERIES_UID:
            if stopped is not None:
                stopped.append(True)
            return True
        return False

    read = read_dataset(io.BytesIO(data), implicit, little, stop_when=stop,
                        specific_tags=_WANTED)
    return {tag: _text(read.get_item(tag).value) for tag in _WANTED if tag in read}


def _text(raw: object) -> str:
    if isinstance(raw, bytes | bytearray):
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(raw).decode("latin-1")
    return "" if raw is None else str(raw)


def _write_atomically(target_dir: Path, target: Path, meta: bytes, dataset: bytes, fsync: bool,
                      calling_aet: str, our_aet: str) -> int:
    tmp_name: str | None = None
    try:
        if not target_dir.is_dir():
            make_private_dir(target_dir)
        fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".part", dir=target_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(meta)
            handle.write(dataset)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as error:
        what = _DISK_ERRORS.get(error.errno or 0, os.strerror(error.errno) if error.errno
                                else type(error).__name__)
        log.warning("Could not store an instance from %r to %r in %s: %s", calling_aet, our_aet,
                    target_dir.parents[2], what)
        raise StoreRefused(OUT_OF_RESOURCES, f"An instance from {calling_aet} could not be "
                           f"stored in {target_dir.parents[2]}: {what}.") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return len(meta) + len(dataset)
