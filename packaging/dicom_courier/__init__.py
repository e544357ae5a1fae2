"""DICOM Courier: find studies on a PACS and send them where they are needed.

The engine lives in :mod:`dicom_courier.core` (Qt-free), the window in :mod:`dicom_courier.gui`.
"""

__version__ = "0.1.0"
