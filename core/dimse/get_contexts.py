"""Which storage presentation contexts a C-GET proposes (PS3.4 C.4.3, PS3.7 D.3.3.4).

A C-GET's images come back as C-STORE sub-operations on our own association, so before the
request we must propose, with SCP/SCU Role Selection for the SCP role, a presentation context
for every Storage SOP class the PACS will send. :func:`study_storage_classes` asks the PACS
which classes the target holds (one IMAGE-level C-FIND, SOP Class UID as return key, on its
own association under the retrieve's control); :func:`storage_contexts_for` turns them (or
:data:`DEFAULT_STORAGE_CLASSES` when the look-up gave nothing) into contexts within
pynetdicom's limit of 128 per association: one uncompressed context per class first, then
one context per compressed transfer syntax while there is room, so a PACS can send a
compressed image as it holds it (nothing is decompressed on the way).

Nothing here imports Qt. The look-up runs on: DIMSE worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import (
    OperationControl,
    finish_association,
    open_association,
)
from dicom_courier.core.dimse.find_exchange import exchange_find
from dicom_courier.core.dimse.lean_reader import DimseResponse
from dicom_courier.core.outcome.errors import CourierError, InvalidInput
from dicom_courier.core.qr.query import MoveTarget, QueryModel

LOGGER = logging.getLogger(__name__)

#: Storage contexts one C-GET association may propose: pynetdicom's 128 presentation
#: contexts (PS3.8 9.3.2.2: odd IDs 1-255) less the two Q/R GET models, with a margin.
MAX_STORAGE_CONTEXTS = 120
#: The uncompressed transfer syntaxes every storage context proposes first (PS3.5 A.1, A.2).
UNCOMPRESSED = (str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian))

#: Proposed when the study's own classes are not known (the look-up failed or found none):
#: the image, RT, SR and document classes a clinical PACS holds most (PS3.4 B.5).
DEFAULT_STORAGE_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",        # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",      # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",        # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",      # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.1",        # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",      # Digital X-Ray Image, for Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",    # Digital X-Ray Image, for Processing
    "1.2.840.10008.5.1.4.1.1.1.2",      # Digital Mammography X-Ray, for Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",    # Digital Mammography X-Ray, for Processing
    "1.2.840.10008.5.1.4.1.1.13.1.3",   # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.1.3",      # Digital Intra-Oral X-Ray, for Presentation
    "1.2.840.10008.5.1.4.1.1.6.1",      # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",      # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",        # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.2",      # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",      # Multi-frame Grayscale Word Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",      # Multi-frame True Color Secondary Capture
    "1.2.840.10008.5.1.4.1.1.20",       # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.128",      # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.130",      # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.12.1",     # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.12.2",     # X-Ray Radiofluoroscopic Image
    "1.2.840.10008.5.1.4.1.1.13.1.1",   # X-Ray 3D Angiographic Image
    "1.2.840.10008.5.1.4.1.1.481.1",    # RT Image
    "1.2.840.10008.5.1.4.1.1.481.2",    # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3",    # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5",    # RT Plan
    "1.2.840.10008.5.1.4.1.1.481.8",    # RT Ion Plan
    "1.2.840.10008.5.1.4.1.1.481.4",    # RT Beams Treatment Record
    "1.2.840.10008.5.1.4.1.1.66",       # Raw Data
    "1.2.840.10008.5.1.4.1.1.66.1",     # Spatial Registration
    "1.2.840.10008.5.1.4.1.1.66.4",     # Segmentation
    "1.2.840.10008.5.1.4.1.1.11.1",     # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.88.11",    # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",    # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",    # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.59",    # Key Object Selection Document
    "1.2.840.10008.5.1.4.1.1.104.1",    # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.77.1.1",   # VL Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4",   # VL Photographic Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # Ophthalmic Photography 8 Bit Image
)


def receiver_syntaxes() -> dict[str, tuple[str, ...]]:
    """The transfer syntaxes the receiver accepts per Storage SOP class
    (:func:`.storage_classes.storage_contexts`, the built-in receiver's list); a class not in
    it is proposed with the syntaxes of the list's first class."""
    from dicom_courier.core.dimse.storage_classes import storage_contexts

    return {str(uid): tuple(str(ts) for ts in syntaxes)
            for uid, syntaxes in storage_contexts()}


def storage_contexts_for(classes: Iterable[str], *, limit: int = MAX_STORAGE_CONTEXTS
                         ) -> list[tuple[str, tuple[str, ...]]]:
    """Presentation contexts (abstract syntax, transfer syntaxes) for ``classes``, at most
    ``limit``: an uncompressed context for each class (in order; classes beyond ``limit``
    are left out and logged), then one context per compressed transfer syntax the receiver
    accepts, class by class, while there is room. Never raises."""
    known = receiver_syntaxes()
    fallback = next(iter(known.values()), UNCOMPRESSED)
    ordered = list(dict.fromkeys(str(uid) for uid in classes))
    if len(ordered) > limit:
        LOGGER.warning("the retrieve needs %d storage classes; only the first %d are proposed",
                       len(ordered), limit)
        ordered = ordered[:limit]
    contexts: list[tuple[str, tuple[str, ...]]] = []
    for uid in ordered:
        syntaxes = known.get(uid, fallback)
        plain = tuple(ts for ts in UNCOMPRESSED if ts in syntaxes) or UNCOMPRESSED
        contexts.append((uid, plain))
    for uid in ordered:
        for syntax in known.get(uid, fallback):
            if len(contexts) >= limit:
                return contexts
            if syntax not in UNCOMPRESSED:
                contexts.append((uid, (syntax,)))
    return contexts


def study_storage_classes(pacs: PacsNode, target: MoveTarget,
                          models: Sequence[QueryModel],
                          control: OperationControl) -> tuple[str, ...] | None:
    """The SOP Class UIDs of the instances ``target`` names on ``pacs``, in the order first
    seen; None when the look-up could not tell (the PACS refused it, answered nothing, or
    its association failed: then the caller proposes :data:`DEFAULT_STORAGE_CLASSES`).

    One IMAGE-level C-FIND (PS3.4 C.4.1, C.6.1.1.5 / C.6.2.1.4) in the first of ``models``
    the PACS accepts, on its own association under ``control`` (cancel, abort, deadline,
    the idle timer of ``pacs.timeouts`` in seconds): the target's unique keys as matching
    keys, SOP Class UID as return key. Runs on: DIMSE worker thread.

    Never raises: a look-up that ``control`` stopped (cancel, abort, deadline) returns None
    too, and the caller, which checks ``control`` next, reports its own stop.
    """
    usable = [m for m in models if m is not QueryModel.PATIENT or target.patient_id]
    if not usable:
        return None
    try:
        assoc = open_association(pacs, [m.find_uid for m in usable], control)
    except CourierError:
        LOGGER.info("the storage class look-up could not connect; proposing the default set")
        return None
    accepted = {str(c.abstract_syntax) for c in assoc.accepted_contexts}
    model = next((m for m in usable if m.find_uid in accepted), usable[0])
    try:
        identifier = _identifier(target, model)
    except InvalidInput:
        identifier = None
    found: dict[str, None] = {}

    def on_pending(response: DimseResponse) -> None:
        answer = response.dataset()
        if answer is None:
            return
        try:
            uid = str(answer.get("SOPClassUID", "") or "").strip(" \x00")
        except Exception:  # noqa: BLE001 - an answer pydicom cannot read: skip it
            return
        if uid and len(found) < MAX_STORAGE_CONTEXTS:
            found[uid] = None

    if identifier is None:
        finish_association(assoc, clean=True, guard=control.guard)
        return None
    try:
        exchange = exchange_find(assoc, identifier, model.find_uid, control, on_pending,
                                 lambda _ended: CourierError("", "", ""),
                                 ends_operation=False)
    except Exception:  # noqa: BLE001 - pynetdicom on bytes it did not expect: no classes
        LOGGER.info("the storage class look-up failed; proposing the default set")
        return None
    if not exchange.final or not found:
        LOGGER.info("the storage class look-up gave no classes (status %s); proposing the "
                    "default set", None if exchange.status is None else
                    f"0x{exchange.status:04X}")
        return None
    return tuple(found)


def _identifier(target: MoveTarget, model: QueryModel) -> Dataset:
    """``target``'s keys at IMAGE level, with SOP Class UID as return key."""
    identifier = target.to_identifier(model)
    identifier.QueryRetrieveLevel = "IMAGE"
    for keyword in ("SeriesInstanceUID", "SOPInstanceUID"):
        if keyword not in identifier:
            setattr(identifier, keyword, "")
    identifier.SOPClassUID = ""
    return identifier
