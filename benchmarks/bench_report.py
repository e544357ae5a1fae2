"""Rows of the issue 12 table, their verdicts, the printed summary, and the sub-benchmark runner.

A :class:`Row` holds every sample of our side and of its reference (measured in the same run),
its goal, and why it was not measured if it was not. Verdicts use medians: a "ratio" goal
compares median(ours) / median(reference), an "absolute" goal compares median(ours) itself.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Row:
    """One line of the summary table (and of ``rows`` in the JSON)."""

    row: str  # issue 12 table row number, e.g. "1", "3 worst", "9 (dcmqrscp)"
    measure: str
    reference: str  # what the reference is, "-" if none
    unit: str  # "s", "ms" or "MB"
    goal_kind: str | None  # "ratio", "absolute" or None (shown for information)
    goal: float | None
    ours: list[float] = field(default_factory=list)
    theirs: list[float] | None = None
    read_path: str | None = None
    why_not: str | None = None  # set when the row was not measured
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.ours or not self.theirs:
            return None
        theirs = statistics.median(self.theirs)
        return statistics.median(self.ours) / theirs if theirs > 0 else None

    @property
    def verdict(self) -> str:
        if self.why_not is not None or not self.ours:
            return "not measured"
        if self.goal_kind is None or self.goal is None:
            return "-"
        value = self.ratio if self.goal_kind == "ratio" else statistics.median(self.ours)
        if value is None:
            return "not measured"
        return "met" if value <= self.goal else "MISSED"

    def goal_text(self) -> str:
        if self.goal_kind == "ratio":
            return f"ratio <= {self.goal:g}"
        if self.goal_kind == "absolute":
            return f"<= {self.goal:g} {self.unit}"
        return "-"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ours_stats"] = stats(self.ours)
        out["reference_stats"] = stats(self.theirs) if self.theirs else None
        out["ratio_of_medians"] = self.ratio
        out["goal_text"] = self.goal_text()
        out["verdict"] = self.verdict
        return out


def not_measured(rows: Sequence[Row], why: str) -> None:
    """Mark every row of ``rows`` that has no samples yet as not measured, with ``why``."""
    for row in rows:
        if not row.ours and row.why_not is None:
            row.why_not = why


def stats(samples: Sequence[float] | None) -> dict[str, float] | None:
    if not samples:
        return None
    return {"min": min(samples), "median": statistics.median(samples), "max": max(samples),
            "n": len(samples)}


def _num(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.0f}"


def _triple(samples: Sequence[float] | None, unit: str) -> str:
    if not samples:
        return "-"
    s = stats(samples)
    assert s is not None
    return "/".join(_num(s[k], unit) for k in ("min", "median", "max")) + f" {unit}"


def table_lines(rows: Sequence[Row]) -> list[str]:
    """The summary table: one line per row, columns aligned, 'not measured (why)' lines last."""
    header = ("row", "measure", "reference", "ours min/med/max", "ref min/med/max", "ratio",
              "goal", "verdict")
    cells = [header]
    for row in rows:
        label = row.measure + (f" [{row.read_path}]" if row.read_path else "")
        ratio = row.ratio
        cells.append((row.row, label, row.reference, _triple(row.ours, row.unit),
                      _triple(row.theirs, row.unit), f"{ratio:.2f}" if ratio is not None else "-",
                      row.goal_text(), row.verdict))
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = [" | ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip()
             for c in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for row in rows:
        if row.why_not is not None:
            lines.append(f"row {row.row} not measured: {row.why_not}")
    return lines


# -- sub-benchmarks (benchmarks/window_gap.py, startup.py, rows_memory.py) ------------------------

def run_sub_benchmark(script: str, args: Sequence[str], *, timeout: float,
                      env: Mapping[str, str] | None = None,
                      log: Any = print) -> tuple[dict[str, Any] | None, str | None]:
    """Run ``benchmarks/<script>`` and parse the JSON object on its last stdout line.

    Its stderr (progress) is echoed, indented, as it comes. Returns ``(result, None)``, or
    ``(None, why)`` when the script is missing, fails, times out or prints no valid result;
    never raises for those. On a timeout the script's whole process group (it runs in a
    session of its own, with anything it started) is killed.
    """
    path = BENCH_DIR / script
    if not path.exists():
        return None, f"benchmarks/{script} does not exist (yet)"
    command = [sys.executable, str(path), *args]
    log(f"  $ {' '.join(command[1:])}")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            cwd=str(BENCH_DIR.parent), env=dict(env or os.environ),
                            start_new_session=True)
    tail: collections.deque[str] = collections.deque(maxlen=12)
    out: list[str] = []

    def echo_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip())
            log(f"    | {line.rstrip()}")

    def keep_stdout() -> None:
        assert proc.stdout is not None
        out.extend(proc.stdout)

    readers = [threading.Thread(target=target, name=f"{target.__name__}-{script}", daemon=True)
               for target in (echo_stderr, keep_stdout)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        return None, f"timed out after {timeout:.0f} s"
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    stdout = "".join(out)
    if proc.returncode != 0:
        last = tail[-1] if tail else ""
        return None, f"exit code {proc.returncode}: {last[:200]}"
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None, "printed no result line"
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return None, f"last stdout line is not JSON ({exc})"
    if not isinstance(result, dict) or not isinstance(result.get("rows"), dict):
        return None, "result has no 'rows' object"
    return result, None


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def samples_of(result: Mapping[str, Any], name: str) -> list[float]:
    """The samples of row ``name`` of a sub-benchmark result, or [] if absent or not numbers."""
    values = result.get("rows", {}).get(name)
    if not isinstance(values, list):
        return []
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return []


def fill_from(result: dict[str, Any] | None, why: str | None, script: str,
              pairs: Sequence[tuple[Row, str, str | None]]) -> None:
    """Fill each ``(row, ours_name, reference_name)`` from a sub-benchmark result.

    A missing result marks the rows "not measured" with ``why``; a missing row name marks
    that row alone.
    """
    for row, ours_name, ref_name in pairs:
        if result is None:
            row.why_not = f"{script}: {why}"
            continue
        row.ours = samples_of(result, ours_name)
        if ref_name is not None:
            row.theirs = samples_of(result, ref_name) or None
        row.details.update({"sub_benchmark": script, "ours_row": ours_name,
                            "reference_row": ref_name, "info": result.get("info")})
        if not row.ours:
            row.why_not = f"{script} gave no samples for {ours_name!r}"
        elif ref_name is not None and row.theirs is None:
            row.details["reference_missing"] = f"{script} gave no samples for {ref_name!r}"
