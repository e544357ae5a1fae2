"""Which Q/R information model a PACS accepts: proposed, chosen, remembered (issue 9 §2).

A PACS may offer Study Root, Patient Root or both (PS3.4 C.6). Where the person did not pick a
model (the window), an operation proposes the preferred model *and* the others it can use in
one association (one presentation context each, PS3.8 9.3.2.2), and carries on with the
first one the PACS accepted (:func:`accepted_model`). :class:`ModelMemory` keeps the model
that worked per PACS profile for the session, so the next search, series list and send ask
for it first. The command line keeps the model the person chose (``--model``) and proposes
that one only.

:func:`not_supported_advice` is the one place that says what to do when a PACS accepted none
of the proposed services: it suggests another query model only if one was not tried.

Nothing here imports Qt or opens a connection.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.qr.query import FindMatch, FindQuery, MoveRequest, QueryLevel, QueryModel

if TYPE_CHECKING:  # a type only: pynetdicom is not imported for the window's first paint
    from pynetdicom import Association

#: The models' names as the standard and PACS manuals write them.
MODEL_NAMES: Mapping[QueryModel, str] = {QueryModel.STUDY: "Study Root",
                                        QueryModel.PATIENT: "Patient Root"}

#: The models in the order a PACS is asked when nothing is known: Study Root first (every
#: level but PATIENT, and no Patient ID needed).
_DEFAULT_ORDER = (QueryModel.STUDY, QueryModel.PATIENT)


def _models_of(abstract_syntaxes: Iterable[str]) -> set[QueryModel]:
    uids = set(abstract_syntaxes)
    return {model for model in QueryModel if model.find_uid in uids or model.move_uid in uids}


def not_supported_advice(abstract_syntaxes: Collection[str], calling_aet: str) -> str:
    """What to do when a PACS accepted none of ``abstract_syntaxes`` (SOP Class UIDs proposed).

    One Q/R model proposed: try the other one by name, e.g. ``"Try the Patient Root model
    (command line: --model patient), or ask …"``. Both proposed: no model to try, only the
    administrator. No Q/R model (a C-ECHO): the administrator. Returns one sentence or two.
    """
    tried = _models_of(abstract_syntaxes)
    ask = ("ask the PACS administrator to enable query/retrieve for our AE title "
           f"{calling_aet}.")
    if len(tried) == 1:
        other = next(model for model in QueryModel if model not in tried)
        return (f"Try the {MODEL_NAMES[other]} model (command line: --model {other.value}), "
                f"or {ask}")
    if tried:
        return (f"It offers neither the Study Root nor the Patient Root model to us (both "
                f"were proposed): {ask}")
    return ask[0].upper() + ask[1:]


def what_was_proposed(abstract_syntaxes: Collection[str]) -> str:
    """The proposed Q/R models in words, for an explanation: ``"the Study Root and Patient
    Root query models"``, or ``"the proposed services"`` when no Q/R model was proposed."""
    tried = [MODEL_NAMES[model] for model in _DEFAULT_ORDER if model in
             _models_of(abstract_syntaxes)]
    if not tried:
        return "the proposed services"
    return f"the {' and '.join(tried)} query model{'s' if len(tried) > 1 else ''}"


def find_models(query: FindQuery, others: Sequence[QueryModel]) -> tuple[QueryModel, ...]:
    """The models to propose for ``query``: its own first, then each of ``others`` that has
    ``query.level`` (no PATIENT level in Study Root), without repeats."""
    usable = [query.model, *(m for m in others if query.level in _levels(m))]
    return tuple(dict.fromkeys(usable))


def move_models(request: MoveRequest) -> tuple[QueryModel, ...]:
    """The models to propose for ``request``: ``request.model`` first, then each of
    ``request.other_models`` that can name the target (Patient Root needs the Patient ID)."""
    usable = [request.model, *(m for m in request.other_models
                               if m is not QueryModel.PATIENT or request.target.patient_id)]
    return tuple(dict.fromkeys(usable))


def _levels(model: QueryModel) -> tuple[QueryLevel, ...]:
    if model is QueryModel.PATIENT:
        return tuple(QueryLevel)
    return (QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE)


def accepted_model(assoc: Association, models: Sequence[QueryModel], *,
                   move: bool = False) -> QueryModel:
    """The first of ``models`` whose FIND (``move``: MOVE) SOP class the PACS accepted on
    ``assoc`` (its accepted presentation contexts, PS3.8 9.3.3.2); ``models[0]`` if none was
    (pynetdicom then refuses the request, which the caller reports). Runs on: DIMSE worker
    thread."""
    accepted = {str(context.abstract_syntax) for context in assoc.accepted_contexts}
    for model in models:
        if (model.move_uid if move else model.find_uid) in accepted:
            return model
    return models[0]


def query_in(query: FindQuery, model: QueryModel) -> FindQuery:
    """``query`` asked in ``model`` instead: the same level and keys, except the Patient ID,
    which a Study Root SERIES or IMAGE request does not carry (it is no key of those levels;
    a Patient Root request gets it as a universal key, see :meth:`FindQuery.to_identifier`)."""
    if model is query.model:
        return query
    keys = dict(query.keys)
    if model is QueryModel.STUDY and query.level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        keys.pop("PatientID", None)
    return replace(query, model=model, keys=keys)


def patient_id_of(match: FindMatch) -> str | None:
    """The Patient ID a PACS returned in ``match``, padding stripped, if a Patient Root
    request can carry it as one LO value (PS3.5 6.2: at most 64 characters, no backslash or
    control character); None otherwise or when absent."""
    return usable_patient_id(match.get("PatientID"))


def usable_patient_id(value: str) -> str | None:
    """``value`` (a Patient ID the PACS returned), padding stripped, if a Patient Root
    request can carry it as one LO value (PS3.5 6.2); None otherwise."""
    value = value.strip(" \x00")
    if not value or len(value) > 64 or "\\" in value or \
            any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 for ch in value):
        return None
    return value


def move_models_looking_up(request: MoveRequest) -> tuple[QueryModel, ...]:
    """:func:`move_models`, but when the target lacks the Patient ID, Patient Root (if the
    request may use it) comes last: a PACS that also offers another model is asked in that
    one, and a PACS that accepts only Patient Root gets the Patient ID looked up first
    (:mod:`.patient_lookup`) instead of a request it cannot serve."""
    usable = move_models(request)
    if request.target.patient_id or \
            QueryModel.PATIENT not in (request.model, *request.other_models):
        return usable
    return (*(m for m in usable if m is not QueryModel.PATIENT), QueryModel.PATIENT)


class ModelMemory:
    """The Q/R model each PACS profile accepted, for this session (not saved: a PACS may be
    reconfigured). Keyed by the profile's name, address and both AE titles, so an edited
    profile starts afresh. Thread-safe; tiny."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._learned: dict[tuple[str, str, int, str, str], QueryModel] = {}

    @staticmethod
    def _key(pacs: PacsNode) -> tuple[str, str, int, str, str]:
        return (pacs.name, pacs.host, pacs.port, pacs.called_aet, pacs.calling_aet)

    def model_for(self, pacs: PacsNode) -> QueryModel:
        """The model that worked with ``pacs`` last, else Study Root."""
        with self._lock:
            return self._learned.get(self._key(pacs), _DEFAULT_ORDER[0])

    def others(self, pacs: PacsNode) -> tuple[QueryModel, ...]:
        """The models to propose after :meth:`model_for`, in order."""
        first = self.model_for(pacs)
        return tuple(model for model in _DEFAULT_ORDER if model is not first)

    def learn(self, pacs: PacsNode, model: QueryModel | None) -> None:
        """Remember that ``pacs`` accepted ``model`` (None: nothing learned)."""
        if model is not None:
            with self._lock:
                self._learned[self._key(pacs)] = model
