"""``move``: the pre-send checks the window asks about, said as ``Warning:`` lines.

The command line never asks (scripts run it): it prints what :mod:`..send_checks` found (a
study already queued for, or sent to, the same destination within the ``resend_warning_minutes``
of settings.json; a destination the PACS refused last time) and sends as told. Warnings go to
stderr also with ``--json``, so stdout stays one JSON object per line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dicom_courier.core.cli.render import stderr
from dicom_courier.core.cli.safe_text import line
from dicom_courier.core.config.app_settings import read_app_settings
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.destination_memory import DestinationMemory
from dicom_courier.core.jobs.send_checks import recent_sends, refused_question, repeat_warnings
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.arrival import shown_destination
from dicom_courier.core.qr.query import MoveTarget


def pre_send_warnings(store: JobStore, pacs: PacsNode, destination: str,
                      targets: Sequence[MoveTarget], *, resend_minutes: int) -> list[str]:
    """The sentences to print before sending ``targets`` from ``pacs`` to ``destination``
    (``resend_minutes``: minutes; see :mod:`..send_checks`). Never raises for a store that
    cannot be read (no warning then)."""
    uids = [target.study_uid for target in targets]
    found = []
    refused = refused_question(DestinationMemory(store), pacs, destination, uids)
    if refused is not None:
        found.append(refused.text)
    repeats = recent_sends(store, pacs_name=pacs.name, destination=destination,
                           study_uids=uids, minutes=resend_minutes)
    found += repeat_warnings(repeats, destination=shown_destination(destination))
    return found


def warn_before_send(store: JobStore, pacs: PacsNode, destination: str,
                     targets: Sequence[MoveTarget],
                     config_dir: str | os.PathLike[str] | None) -> None:
    """Print :func:`pre_send_warnings` to stderr, with the minutes of the profile's
    settings.json (its default when that value cannot be used)."""
    minutes = read_app_settings(app_paths(config_dir).settings_file).settings \
        .resend_warning_minutes
    for text in pre_send_warnings(store, pacs, destination, targets,
                                  resend_minutes=minutes):
        stderr.print(line(("Warning:", "bold yellow"), " ", text))
