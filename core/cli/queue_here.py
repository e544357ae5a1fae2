"""What ``queue run`` needs so that its sends end as the window's do (issue 13 part G §3).

A job to this computer (destination :data:`~dicom_courier.core.outcome.arrival.HERE`,
queued with ``queue add --dest @here`` or left interrupted by the window) is retrieved the
way ``move --dest @here`` does (:mod:`.move_here_cmd`): the built-in receiver runs for the
duration of the run when a job's PACS profile retrieves with C-MOVE or automatically (AE
title, port and folder from ``receiver.json``; the profiles' AE titles and each job's PACS
may send), C-GET needs none. Its arrivals are tied to the jobs by the queue's
:class:`~dicom_courier.core.jobs.arrivals.ArrivalLedger`, and each job waits (bounded by
``arrival_wait`` in settings.json) for every image the PACS reported sent. A job to a
destination saved as queryable is checked there (:func:`~dicom_courier.core.jobs
.arrival_phase.arrival_checker`, the window's rule). When the receiver cannot start (port
taken), an automatic profile retrieves with C-GET; a C-MOVE profile's jobs fail at once with
the reason, the PACS asked nothing.

Runs on: the asyncio loop thread (the receiver serves on pynetdicom's threads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dicom_courier.core.cli.render import stderr
from dicom_courier.core.cli.safe_text import literal
from dicom_courier.core.config.app_settings import read_app_settings
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.receiver_settings import (
    AllowList,
    ReceiverSettings,
    allow_list,
    read_receiver_settings,
)
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.jobs.arrival_phase import (
    NotSetUpHere,
    ReceiverNotSetUp,
    arrival_checker,
)
from dicom_courier.core.jobs.arrivals import ArrivalLedger
from dicom_courier.core.jobs.resume import Resumption
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import MoveRequest

if TYPE_CHECKING:
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.dimse.receiver import Receiver


class RunArrivals:
    """The receiver, arrival ledger and arrival check of one ``queue run``.

    ``planned``: the jobs to send; the receiver starts (in :meth:`start`) only when one of
    them goes to this computer with C-MOVE or automatic retrieval. Call :meth:`close` at the
    end (idempotent).
    """

    def __init__(self, courier: Courier, args: argparse.Namespace,
                 planned: Sequence[Resumption]) -> None:
        from dicom_courier.core.cli.move_here_cmd import RefusalLines
        from dicom_courier.core.dimse.arrival_hub import ArrivalHub

        self.courier = courier
        self.paths = app_paths(args.config_dir)
        settings = read_app_settings(self.paths.settings_file).settings
        self.wait = float(settings.arrival_wait)
        self.interval = float(settings.arrival_interval)
        self.hub: ArrivalHub = ArrivalHub()
        self.hub.subscribe_refusals(RefusalLines(asyncio.get_running_loop()).note)
        self.ledger = ArrivalLedger(self.hub)
        self.receiver: Receiver | None = None
        self.problem: CourierError | None = None
        self._here = [plan for plan in planned if plan.request.destination == HERE]

    def start(self) -> None:
        """Start the receiver if a job needs it; a failure is kept (:attr:`problem`) and
        said once, the jobs it affects fail or fall back to C-GET when they start."""
        if not any(plan.pacs.retrieve is not RetrieveMethod.GET for plan in self._here):
            return
        from dicom_courier.core.dimse.receiver import Receiver

        settings, problems = read_receiver_settings(self.paths.receiver_file)
        for problem in problems:
            stderr.print(literal(f"Warning: {problem}"))
        receiver = Receiver(settings, settings.storage_folder(self.paths),
                            self._allowed(settings), self.hub)
        try:
            receiver.start()
        except CourierError as error:
            self.problem = error
            stderr.print(literal(f"This computer's receiver did not start: {error.title}"))
            return
        self.receiver = receiver

    def _allowed(self, settings: ReceiverSettings) -> AllowList:
        """The saved profiles' allow-list, with every here-job's PACS in it."""
        try:
            nodes = NodeStore(self.paths.nodes_file).load()
        except CourierError:
            nodes = []
        pacs = [plan.pacs for plan in self._here]
        allow = allow_list(settings, [*nodes, *pacs])
        return replace(allow, aets=allow.aets | {node.called_aet for node in pacs})

    def queue_options(self) -> dict[str, Any]:
        """The :class:`~dicom_courier.core.jobs.queue.MoveQueue` keywords for arrivals."""
        return {"arrivals": self.ledger, "retrieve_here": self.retrieve_here,
                "check_arrival": arrival_checker(self.courier, wait=self.wait,
                                                 interval=self.interval),
                "arrival_wait": self.wait}

    def retrieve_here(self, pacs: PacsNode, request: MoveRequest) -> Any:
        """The queue's ``retrieve_here``: per the profile's method, as the window does."""
        from dicom_courier.core.dimse.retrieve_here import (
            C_GET_NOTE,
            NO_RECEIVER_NOTE,
            retrieve_here,
        )

        method = pacs.retrieve
        receiver = self.receiver
        note = C_GET_NOTE
        if receiver is None and method is not RetrieveMethod.GET:
            if method is RetrieveMethod.MOVE:
                return self._receiver_down(pacs, request)
            pacs = pacs.with_changes(retrieve=RetrieveMethod.GET)  # C-GET needs none
            note = NO_RECEIVER_NOTE

        settings, _problems = read_receiver_settings(self.paths.receiver_file)
        folder = receiver.folder if receiver is not None else settings.storage_folder(
            self.paths)
        aet = receiver.ae_title if receiver is not None else settings.ae_title
        return retrieve_here(self.courier, pacs, request, receiver_aet=aet, folder=folder,
                             hub=self.hub, max_instance_mb=settings.max_instance_mb,
                             get_note=note)

    def _receiver_down(self, pacs: PacsNode, request: MoveRequest) -> NotSetUpHere:
        why = self.problem.title if self.problem is not None else "unknown reason"
        error = ReceiverNotSetUp(
            "This computer cannot receive images now: its receiver did not start.",
            f"The receiver did not start ({why}), so {pacs.called_aet} could not send to "
            "it; nothing was asked of the PACS.",
            "Free the port or choose another one in receiver.json (or Preferences), or set "
            "this PACS profile to retrieve with C-GET ('nodes add … --retrieve get "
            "--replace'), then 'queue retry' the job.")
        return NotSetUpHere(pacs, request, error)

    async def close(self) -> None:
        """Stop hearing arrivals and stop the receiver; idempotent."""
        self.ledger.close()
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(receiver.stop)
