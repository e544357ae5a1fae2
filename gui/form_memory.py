"""The search form across restarts: the last PACS, destination and modalities come back.

What is remembered, and why no patient name or ID is: :mod:`dicom_courier.core.config.last_search`
(``last_search.json``, owner-only). The study date starts at the ``default_study_dates``
preference. Saved after each search and when the window closes; a file that cannot be written
costs the memory, never the search or the close. Runs on: the GUI thread.
"""

from __future__ import annotations

import logging
from typing import Any

from dicom_courier.core.config.last_search import (
    FILE_NAME,
    LastSearch,
    read_last_search,
    save_last_search,
)
from dicom_courier.gui.query_form import MODALITIES

_log = logging.getLogger(__name__)


def start_form(window: Any) -> LastSearch:
    """Set ``window``'s form as it should start: the default study date (a preference), then
    the remembered PACS, destination and modalities where they still exist. Returns what was
    remembered."""
    window.form.set_default_dates(window.settings.default_study_dates, apply=True)
    last = read_last_search(window.paths.config_dir / FILE_NAME)
    if last.pacs and window.form.pacs_combo.findText(last.pacs) >= 0:
        window.reload_profiles(select=last.pacs)
    index = window.destination_combo.findData(last.destination) if last.destination else -1
    if index >= 0:
        window.destination_combo.setCurrentIndex(index)
    window.form.set_modalities([m for m in last.modalities if m in MODALITIES])
    return last


def remember_form(window: Any) -> None:
    """Write the form's PACS, destination and modalities to ``last_search.json``."""
    last = LastSearch(pacs=window.form.pacs_combo.currentText(),
                      destination=window.destination_combo.currentData() or "",
                      modalities=tuple(window.form.selected_modalities()))
    try:
        save_last_search(window.paths.config_dir / FILE_NAME, last)
    except OSError as exc:  # a read-only profile: nothing is remembered, nothing else fails
        _log.info("The last search could not be remembered: %s", exc.strerror or exc)
