"""``dicom-courier demo``: the main job, end to end, on a built-in PACS with zero configuration.

Starts the embedded demo PACS and a workstation receiver on free loopback ports, then walks
through echo -> find -> move with a live progress bar, and shows what a failure looks like.
Nothing is saved to the user's PACS profiles.
"""

from __future__ import annotations

import argparse
import logging
import shutil

from dicom_courier.core.cli.move_cmd import MoveRunner
from dicom_courier.core.cli.render import print_error, print_matches, stdout
from dicom_courier.core.cli.safe_text import line, literal
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.input_rules import parse_decimal
from dicom_courier.core.qr.query import (
    FindQuery,
    MoveRequest,
    MoveTarget,
    Priority,
    QueryLevel,
    QueryModel,
)

WORKSTATION_AET = "WORKSTATION"


def _delay(text: str) -> float:
    return parse_decimal(text, "--delay", minimum=0, maximum=1, allow_minimum=True)


def _step(text: str) -> None:
    stdout.print()
    stdout.print(line((text, "bold cyan")))  # the step names a study description: data


async def run_demo(args: argparse.Namespace) -> int:
    delay = _delay(args.delay)
    if not args.verbose:  # the demo PACS's own log would only repeat what we print
        logging.getLogger("dicom_courier.core.demo").setLevel(logging.ERROR)
    folder = app_paths(args.config_dir).data_dir / "demo-workstation"
    shutil.rmtree(folder, ignore_errors=True)
    with Workstation(folder, ae_title=WORKSTATION_AET) as workstation, DemoPacs(
        store_delay=delay, destinations={WORKSTATION_AET: ("127.0.0.1", workstation.port)}
    ) as pacs, Courier() as courier:
        node = PacsNode(
            name="Demo PACS", called_aet=pacs.ae_title, host="127.0.0.1", port=pacs.port,
            timeouts=Timeouts(connect=5, idle=30),
            destinations=(Destination(WORKSTATION_AET, "127.0.0.1", workstation.port,
                                      "Demo workstation"),),
        )
        stdout.print(f"Demo PACS {pacs.ae_title} is listening on 127.0.0.1:{pacs.port}; "
                     f"workstation {WORKSTATION_AET} on 127.0.0.1:{workstation.port}.")

        _step("1. Is the PACS there? (C-ECHO)")
        echo = await courier.echo(node)
        stdout.print(f"{pacs.ae_title} answered in {echo.round_trip_ms:.1f} ms.")

        _step("2. Find the studies (C-FIND, Study Root, STUDY level)")
        query = FindQuery(QueryLevel.STUDY, QueryModel.STUDY)
        matches = [m async for m in courier.find(node, query)]
        matches.sort(key=lambda m: m.get("StudyDate"), reverse=True)
        print_matches(matches, "table", ("PatientName", "PatientID", "StudyDate",
                                         "ModalitiesInStudy", "StudyDescription",
                                         "NumberOfStudyRelatedInstances"),
                      only_preferred=True)

        chosen = next(m for m in matches if m.get("AccessionNumber") == "ACC1001")
        _step(f"3. Send {chosen.get('StudyDescription')!r} of {chosen.get('PatientName')} "
              f"to {WORKSTATION_AET} (C-MOVE; Ctrl-C cancels)")
        runner = MoveRunner(courier, node, WORKSTATION_AET, model=QueryModel.STUDY,
                            priority=Priority.MEDIUM, as_json=False)
        description = f"{chosen.get('PatientName')}: {chosen.get('StudyDescription')}"
        code = await runner.run([MoveTarget(study_uid=chosen.get("StudyInstanceUID"),
                                            description=description)])
        stdout.print(literal(f"The workstation received {workstation.received_count} images; "
                             f"they are in {folder}"))

        _step("4. What a failure looks like: a destination the PACS does not know")
        failed = await courier.move(node, MoveRequest(
            MoveTarget(study_uid=chosen.get("StudyInstanceUID")), "NOWHERE")).run()
        if failed.outcome is MoveOutcome.FAILED and failed.error is not None:
            print_error(failed.error)
        stdout.print("\nThe demo PACS stops with this command. To try the commands on a PACS "
                     "of yours: '.venv/bin/dicom-courier nodes add', 'find', 'move' (see --help); "
                     "'.venv/bin/dicom-courier --demo' opens the window on the demo PACS.")
        return code
