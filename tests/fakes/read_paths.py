"""Run the same engine tests on both read paths (core/dimse/read_path.py).

A test module that must pass on our lean response reader and on pynetdicom's own defines::

    @pytest.fixture(autouse=True, params=READ_PATHS)
    def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        return use_read_path(monkeypatch, request.param)
"""

from __future__ import annotations

import pytest

from dicom_courier.core.dimse.read_path import LEAN, PYNETDICOM, READ_PATH_ENV

#: Both read paths, the default first.
READ_PATHS = [LEAN, PYNETDICOM]


def use_read_path(monkeypatch: pytest.MonkeyPatch, path: str) -> str:
    """Make the engine read C-FIND/C-MOVE responses with ``path`` for this test."""
    monkeypatch.setenv(READ_PATH_ENV, path)
    return path
