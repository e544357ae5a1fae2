"""How a study is brought to this computer from one PACS (issue 13 §2): C-MOVE or C-GET.

A value only (no network). :class:`RetrieveMethod` is a profile's ``"retrieve"`` field in
``nodes.json`` and ``nodes add --retrieve``:

* ``move`` (the default): C-MOVE (PS3.4 C.4.2) with our receiver's AE title as the move
  destination; the PACS opens its own association to our receiver, so it must know our AE
  title with this computer's address and port.
* ``get``: C-GET (PS3.4 C.4.3): the PACS sends the images back over our own association
  (C-STORE sub-operations, PS3.7 9.1.3); nothing on the PACS needs our address.
* ``auto``: C-MOVE to us first; when the PACS answers 0xA801 (move destination unknown)
  before sending anything, C-GET instead.
"""

from __future__ import annotations

from enum import StrEnum

from dicom_courier.core.outcome.errors import InvalidInput


class RetrieveMethod(StrEnum):
    """A PACS profile's way to retrieve to this computer (see the module doc)."""

    MOVE = "move"
    GET = "get"
    AUTO = "auto"

    @property
    def words(self) -> str:
        """How people read it: "C-MOVE to this computer", "C-GET", "automatic"."""
        return {"move": "C-MOVE to this computer", "get": "C-GET",
                "auto": "automatic (C-MOVE, C-GET if the PACS does not know us)"}[self.value]


#: The rule a typed or stored value is held to, for messages.
RETRIEVE_RULE = "must be move, get or auto"


def parse_retrieve_method(value: object, field_name: str = "retrieve method") -> RetrieveMethod:
    """``move``, ``get`` or ``auto`` (ASCII, any case, spaces around ignored).

    Raises:
        InvalidInput: naming ``field_name`` and the rule, for anything else.
    """
    if isinstance(value, RetrieveMethod):
        return value
    if not isinstance(value, str):
        raise InvalidInput(field_name, RETRIEVE_RULE, value)
    text = value.strip().lower()
    try:
        return RetrieveMethod(text)
    except ValueError:
        raise InvalidInput(field_name, RETRIEVE_RULE, value) from None


def stored_retrieve_method(value: object) -> tuple[RetrieveMethod, str | None]:
    """A profile's stored ``"retrieve"`` value (``nodes.json``): the method and, for a value
    that is not ``move``, ``get`` or ``auto``, ``move`` with a sentence saying so (a bad value
    costs that value only, never the file). Never raises."""
    try:
        return parse_retrieve_method(value), None
    except InvalidInput:
        shown = value if isinstance(value, str) else repr(value)
        return RetrieveMethod.MOVE, (f'retrieve method "{shown}" {RETRIEVE_RULE}; '
                                     "C-MOVE to this computer (move) is used")
