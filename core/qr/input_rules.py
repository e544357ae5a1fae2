"""One rule per kind of value a person types: whole numbers, seconds, text, UIDs, dates, times.

Everything typed on the command line (and in the window's profile form) goes through these,
so one kind of value is checked the same way everywhere. Each function returns the parsed
value or raises :class:`~.errors.InvalidInput` naming the field and the rule.

Why not ``int()``/``float()``/``str.isdigit()``: they accept what no person means and no PACS
understands. ``"²".isdigit()`` is True, ``int("١٠٤")`` is 104, ``float("١.٥")`` is 1.5,
``float("1_0")`` is 10.0, ``float("nan")`` compares false with every bound, ``float("1e999")``
is ``inf``, and ``int("9" * 5000)`` raises ``ValueError: Exceeds the limit (4300 digits)``.
So numbers here are matched by ASCII-only regular expressions with a length bound *before*
any conversion, and every float is checked to be finite.
"""

from __future__ import annotations

import math
import re
from datetime import date

from dicom_courier.core.outcome.errors import InvalidInput

#: The most digits a typed whole number may have (before the range check); 18 digits always
#: fit a 64-bit integer, and bound the work done on a number of thousands of digits.
MAX_DIGITS = 18

_WHOLE = re.compile(f"[0-9]{{1,{MAX_DIGITS}}}")
_SIGNED_WHOLE = re.compile(f"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
_DECIMAL = re.compile(r"([0-9]{1,9})(\.[0-9]{0,9})?|\.[0-9]{1,9}")
#: PS3.5 6.2 DS (and the text form of FL/FD): optional sign, digits, optional exponent.
_DICOM_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: C0 controls, DEL, C1 controls, and lone surrogates (an undecodable byte of an argument).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_undecodable(text: str) -> bool:
    """True if ``text`` holds a lone surrogate: a byte that was not UTF-8 (``surrogateescape``)."""
    return _SURROGATE.search(text) is not None


def check_text(value: str, field_name: str, *, max_length: int | None = None) -> str:
    """``value`` unchanged, or InvalidInput if it holds undecodable bytes, control characters
    (C0, DEL, C1: e.g. ESC, NUL, newline) or is longer than ``max_length`` characters."""
    if has_undecodable(value):
        raise InvalidInput(field_name, "is not valid UTF-8 text (re-type it, or use a UTF-8 "
                           "locale)", value)
    if _CONTROL.search(value):
        raise InvalidInput(field_name, "must not contain control characters (such as ESC, "
                           "NUL or a line break)", value)
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(field_name, f"must be at most {max_length} characters", value)
    return value


def parse_whole_number(value: object, field_name: str, *, minimum: int, maximum: int,
                       unit: str = "") -> int:
    """A whole number from ``minimum`` to ``maximum`` (inclusive).

    Accepts an ``int`` (not a bool) or text of at most :data:`MAX_DIGITS` ASCII digits 0-9
    with surrounding spaces; no sign, no Unicode digits (``²``, ``١٠٤``), no underscores.
    ``unit`` (e.g. ``"days"``) is named in the rule. Raises InvalidInput.
    """
    rule = (f"must be a whole number{' of ' + unit if unit else ''} from {minimum} to "
            f"{maximum}, written with the digits 0-9")
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise InvalidInput(field_name, rule, value)
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidInput(field_name, rule, value)
    if not minimum <= number <= maximum:
        raise InvalidInput(field_name, rule, value)
    return number


def parse_decimal(value: object, field_name: str, *, minimum: float, maximum: float,
                  allow_minimum: bool, unit: str = "seconds") -> float:
    """A finite decimal number in ``[minimum, maximum]`` (``(minimum, maximum]`` unless
    ``allow_minimum``).

    Text must be plain ASCII decimal notation (``10``, ``2.5``, ``.5``): no sign, exponent,
    ``nan``, ``inf``, underscores or Unicode digits. An ``int``/``float`` (from a JSON file)
    must be finite. Raises InvalidInput naming ``unit``.
    """
    lower = "at least" if allow_minimum else "more than"
    rule = (f"must be a number of {unit}, {lower} {minimum:g} and at most {maximum:g} "
            "(digits 0-9 and an optional '.')")
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            raise InvalidInput(field_name, rule, value)
        number = float(text)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidInput(field_name, rule, value)
    too_low = number < minimum if allow_minimum else number <= minimum
    if not math.isfinite(number) or too_low or number > maximum:
        raise InvalidInput(field_name, rule, value)
    return number


def parse_choice(value: str, field_name: str, choices: tuple[str, ...]) -> str:
    """``value`` stripped and lower-cased if it is one of ``choices`` (lower-case ASCII words);
    compared in ASCII only, so ``hıgh`` (dotless i) is not ``high``."""
    text = value.strip()
    if text.isascii() and text.lower() in choices:
        return text.lower()
    raise InvalidInput(field_name, f"must be {', '.join(choices[:-1])} or {choices[-1]}", value)


# ---------------------------------------------------------------- DICOM values (PS3.5 6.2, 9.1)


def validate_uid(value: str, field_name: str) -> str:
    """A UID as PS3.5 9.1 defines it, stripped: at most 64 characters; components of ASCII
    digits separated by single dots; no empty component (``1..2``, ``1.2.``, ``.1``); no
    leading zero in a component other than ``0`` itself (``1.02``). Raises InvalidInput."""
    uid = value.strip()
    rule = ("must be a DICOM UID: digits 0-9 in components separated by single dots, "
            "no component empty or starting with 0 (except '0' itself), at most 64 characters")
    if not uid or len(uid) > 64 or not uid.isascii():
        raise InvalidInput(field_name, rule, value)
    for component in uid.split("."):
        if not component.isdigit() or (len(component) > 1 and component[0] == "0"):
            raise InvalidInput(field_name, rule, value)
    return uid


def check_date_match(keyword: str, value: str, field_name: str) -> None:
    """DA matching (PS3.4 C.2.2.2.5): ``YYYYMMDD``, or a range ``D1-D2``, ``D1-``, ``-D2``
    with D1 not after D2; each a real calendar date. Raises InvalidInput."""
    rule = ("must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (open ranges: YYYYMMDD- or "
            "-YYYYMMDD), digits 0-9")
    first, dash, last = value.partition("-")
    parts = [p for p in (first, last) if p]
    if not parts or "-" in last or any(not re.fullmatch("[0-9]{8}", p) for p in parts):
        raise InvalidInput(field_name, f"{keyword} {rule}", value)
    days = []
    for part in parts:
        try:
            days.append(date(int(part[:4]), int(part[4:6]), int(part[6:])))
        except ValueError:
            raise InvalidInput(field_name, f"{keyword}: {part} is not a calendar date",
                               value) from None
    if dash and first and last and days[0] > days[1]:
        raise InvalidInput(field_name, f"{keyword}: the range ends before it starts "
                           f"({first} is after {last}); write the earlier date first", value)


_TM = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")


def _time_digits(keyword: str, part: str, value: str, field_name: str, fill: str) -> str:
    """``part`` checked as TM and written as 12 digits (HHMMSSFFFFFF), the missing ones
    ``fill`` ("0" for the start of a range, "9" for its end)."""
    rule = ("must be HH, HHMM, HHMMSS or HHMMSS.FFFFFF (hours 00-23, minutes 00-59, seconds "
            "00-60) or a range of these with '-'")
    match = _TM.fullmatch(part)
    if match is None:
        raise InvalidInput(field_name, f"{keyword} {rule}", value)
    hours, minutes, seconds, fraction = match.groups()
    if (int(hours) > 23 or (minutes is not None and int(minutes) > 59)
            or (seconds is not None and int(seconds) > 60)):
        raise InvalidInput(field_name, f"{keyword}: {part} is not a time of day (hours 00-23, "
                           "minutes 00-59, seconds 00-60)", value)
    digits = hours + (minutes or "") + (seconds or "") + (fraction or "")
    return digits.ljust(12, fill)


def check_time_match(keyword: str, value: str, field_name: str) -> None:
    """TM matching (PS3.5 6.2 TM, PS3.4 C.2.2.2.5): a time or a range ``T1-T2``, ``T1-``,
    ``-T2`` with T1 not after T2 (a range across midnight is not defined). Raises
    InvalidInput."""
    first, dash, last = value.partition("-")
    if not (first or last) or "-" in last:
        raise InvalidInput(field_name, f"{keyword} must be HHMMSS or a range HHMMSS-HHMMSS",
                           value)
    start = _time_digits(keyword, first, value, field_name, "0") if first else None
    end = _time_digits(keyword, last, value, field_name, "9") if last else None
    if dash and start is not None and end is not None and start > end:
        raise InvalidInput(field_name, f"{keyword}: the range ends before it starts "
                           f"({first} is after {last}); a range across midnight is not "
                           "possible, search twice instead", value)


#: The range of each integer VR (PS3.5 6.2) as typed in a matching key.
_INTEGER_RANGE = {"IS": (-(2**31), 2**31 - 1), "US": (0, 2**16 - 1), "UL": (0, 2**32 - 1),
                  "SS": (-(2**15), 2**15 - 1), "SL": (-(2**31), 2**31 - 1),
                  "UV": (0, 2**64 - 1), "SV": (-(2**63), 2**63 - 1)}
INTEGER_VRS = frozenset(_INTEGER_RANGE)
DECIMAL_VRS = frozenset({"DS", "FL", "FD"})


def check_number_match(keyword: str, vr: str, value: str, field_name: str) -> None:
    """A numeric matching value: ASCII digits with an optional sign (and for DS/FL/FD a
    fraction and exponent), within the VR's range, finite (no ``nan``, ``inf``, ``1e999``),
    and not ``-0``. Raises InvalidInput."""
    if vr in _INTEGER_RANGE:
        low, high = _INTEGER_RANGE[vr]
        rule = f"must be a whole number from {low} to {high} (DICOM {vr}), digits 0-9"
        if len(value) > MAX_DIGITS + 2 or not _SIGNED_WHOLE.fullmatch(value):
            raise InvalidInput(field_name, f"{keyword} {rule}", value)
        number = int(value)
        if not low <= number <= high:
            raise InvalidInput(field_name, f"{keyword} {rule}", value)
        negative_zero = number == 0 and value.startswith("-")
    else:
        rule = (f"must be a number (finite, DICOM {vr}): digits 0-9, an optional sign, '.' "
                "and exponent")
        if len(value) > 64 or not _DICOM_DECIMAL.fullmatch(value):
            raise InvalidInput(field_name, f"{keyword} {rule}", value)
        number_f = float(value)
        if not math.isfinite(number_f):
            raise InvalidInput(field_name, f"{keyword} {rule}", value)
        negative_zero = number_f == 0 and value.startswith("-")
    if negative_zero:
        raise InvalidInput(field_name, f"{keyword}: -0 is not a distinct number; write 0",
                           value)
