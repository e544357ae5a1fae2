"""Our side of the engine rows of benchmarks/run.py, in a process of its own.

Not a test and not a tool: ``benchmarks/run.py`` starts one of these per read path (with
``COURIER_READ_PATH`` set in its environment, so the engine reads the switch exactly as it
would in the window or the CLI) and keeps it running, so every timed C-FIND or C-MOVE runs in
a warm process, as in the window after its first search.

Protocol: one JSON object per line on stdin, one JSON answer per line on stdout (nothing else
is ever written to stdout; progress and warnings go to stderr):

* ``{"op": "info"}`` -> ``{"read_path_env": str | None, "effective_read_path": "lean" |
  "pynetdicom" | None (None: this engine has no read-path switch), "pid": int}``
* ``{"op": "find", "node": {...}, "expected": N}`` -> ``{"seconds": request -> last match,
  "total_seconds": with Courier set-up and close, "count": matches}``
* ``{"op": "moves", "node": {...}, "uids": [...], "per_study": N, "destination": AET}`` ->
  ``{"seconds": all moves, "each": [seconds per move], "error": str | None}``; each move is timed
  from the request to the final C-MOVE response (``MoveOperation.run()`` returning) and must end
  COMPLETED with ``per_study`` completed sub-operations, else ``error`` says why.
* ``{"op": "quit"}`` ends the process.

``node`` holds PacsNode's fields name, called_aet, host, port, calling_aet.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO


def _node(spec: dict[str, Any]) -> Any:
    from dicom_courier.core.config.profiles import PacsNode, Timeouts

    return PacsNode(name=spec["name"], called_aet=spec["called_aet"], host=spec["host"],
                    port=int(spec["port"]), calling_aet=spec["calling_aet"],
                    timeouts=Timeouts(connect=5, acse=10, idle=60))


def _find(command: dict[str, Any]) -> dict[str, Any]:
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.qr.query import FindQuery, QueryLevel, QueryModel

    node = _node(command["node"])
    query = FindQuery(level=QueryLevel.STUDY, model=QueryModel.STUDY)

    async def scenario() -> tuple[float, int]:
        count = 0
        with Courier() as courier:
            started = time.perf_counter()
            async for _match in courier.find(node, query):
                count += 1
            seconds = time.perf_counter() - started
        return seconds, count

    total_started = time.perf_counter()
    seconds, count = asyncio.run(scenario())
    return {"seconds": seconds, "total_seconds": time.perf_counter() - total_started,
            "count": count}


def _moves(command: dict[str, Any]) -> dict[str, Any]:
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.outcome.events import MoveOutcome
    from dicom_courier.core.qr.query import MoveRequest, MoveTarget

    node = _node(command["node"])
    per_study = int(command["per_study"])
    destination = str(command["destination"])

    async def scenario() -> tuple[list[float], str | None]:
        durations: list[float] = []
        with Courier() as courier:
            for uid in command["uids"]:
                started = time.perf_counter()
                result = await courier.move(node, MoveRequest(MoveTarget(uid), destination)).run()
                durations.append(time.perf_counter() - started)
                if result.outcome is not MoveOutcome.COMPLETED or result.completed != per_study:
                    detail = result.error.render() if result.error else ""
                    return durations, (f"our move ended {result.outcome.name} "
                                       f"({result.completed}/{per_study} completed) {detail}")
        return durations, None

    started = time.perf_counter()
    each, error = asyncio.run(scenario())
    return {"seconds": time.perf_counter() - started, "each": each, "error": error}


def effective_read_path() -> str | None:
    """The path the engine takes in this process ("lean"/"pynetdicom"), None if no switch."""
    try:
        from dicom_courier.core.dimse.read_path import read_path
    except ImportError:
        return None
    return str(read_path())


def serve(commands: TextIO, answers: TextIO) -> int:
    """Answer commands until ``quit`` or end of input; returns the exit code."""
    for line in commands:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.get("op")
        try:
            if op == "quit":
                return 0
            if op == "info":
                answer: dict[str, Any] = {"read_path_env": os.environ.get("COURIER_READ_PATH"),
                                          "effective_read_path": effective_read_path(),
                                          "pid": os.getpid()}
            elif op == "find":
                answer = _find(command)
            elif op == "moves":
                answer = _moves(command)
            else:
                answer = {"error": f"unknown op {op!r}"}
        except Exception as exc:  # reported to run.py, which marks the row "not measured"
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    del argv
    answers = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers may reach the protocol stream
    return serve(sys.stdin, answers)


if __name__ == "__main__":
    sys.exit(main())
