"""What the built-in receiver accepts: every Storage SOP class (PS3.4 Annex B.5) in the common
transfer syntaxes (PS3.5 Annex A), stored as they come, never decompressed.

The receiver (:mod:`.receiver`) offers these as an SCP; C-GET (:mod:`.get`) proposes the same
transfer syntaxes with SCP/SCU role selection (PS3.7 D.3.3.4) for the storage classes of a study.
"""

from __future__ import annotations

from pynetdicom import AllStoragePresentationContexts

#: Uncompressed (PS3.5 A.1, A.2, A.3) and deflated (A.5) encodings.
UNCOMPRESSED = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent)
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
)
#: Compressed pixel data (PS3.5 A.4), written as it arrives.
COMPRESSED = (
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, First-Order Prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 (Lossless Only)
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # High-Throughput JPEG 2000 (Lossless Only)
    "1.2.840.10008.1.2.4.202",  # High-Throughput JPEG 2000 with RPCL Options (Lossless Only)
    "1.2.840.10008.1.2.4.203",  # High-Throughput JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
)
#: Every transfer syntax the receiver accepts, in order of preference.
TRANSFER_SYNTAXES: tuple[str, ...] = UNCOMPRESSED + COMPRESSED

#: The Storage SOP Class UIDs pynetdicom knows (PS3.4 B.5), in its order.
STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(
    str(context.abstract_syntax) for context in AllStoragePresentationContexts)


def storage_contexts() -> list[tuple[str, list[str]]]:
    """Every (Storage SOP Class UID, accepted transfer syntax UIDs) pair, a new list each call.

    As an SCP, the receiver accepts any of these a peer proposes; a peer may propose up to
    128 presentation contexts per association (PS3.8 9.3.2.2: odd context IDs 1-255).
    """
    return [(sop_class, list(TRANSFER_SYNTAXES)) for sop_class in STORAGE_SOP_CLASSES]
