"""``nodes test`` answers an admin's questions honestly against real peers."""

from __future__ import annotations

from typing import Any

from dicom_courier.core.config.profiles import Destination
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.dimse.destination_verdict import Confidence
from dicom_courier.core.dimse.diagnose import Check, Verdict, diagnose, examine_destination
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import MoveDestinationUnknown
from tests.interop.conftest import node_for, run


def _checks(courier: Courier, node: Any) -> list[Check]:
    async def scenario() -> list[Check]:
        return [check async for check in diagnose(courier, node)]
    return run(scenario())


def test_unknown_calling_ae_is_found_by_the_search_probe(courier: Courier,
                                                         orthanc: Any) -> None:
    checks = _checks(courier, node_for(orthanc, calling_aet="STRANGER"))
    assert [c.verdict for c in checks] == [Verdict.OK, Verdict.FAILED]
    assert "does not know our AE title STRANGER" in checks[1].answer


def test_destinations_on_dcmqrscp(courier: Courier, dcmqrscp: Any, storescp: Any) -> None:
    node = node_for(dcmqrscp, destinations=(
        Destination("STORESCP", "127.0.0.1", storescp.port),
        Destination(dcmqrscp.dead_destination, "127.0.0.1", dcmqrscp.dead_port)))
    checks = _checks(courier, node)
    verdicts = [c.verdict for c in checks]
    # echo, search, STORESCP known?, STORESCP reachable, DEADDEST known?, DEADDEST reachable
    assert verdicts == [Verdict.OK, Verdict.OK, Verdict.UNCLEAR, Verdict.OK, Verdict.UNCLEAR,
                        Verdict.FAILED]
    assert "only a real send proves it" in checks[2].answer
    assert storescp.received_files() == []  # probes never move patient data


def test_dcmqrscp_accepting_the_probe_is_no_verdict_on_a_destination_it_does_not_know(
        courier: Courier, dcmqrscp: Any, storescp: Any) -> None:
    """dcmqrscp answers 0x0000 to a probe of a study that does not exist whatever the
    destination (it maps the destination only once something matched), while a real send to
    WS3 fails with 0xA801: the window's Test destination must not call WS3 usable."""
    node = node_for(dcmqrscp)
    for ae_title in ("WS3", "STORESCP"):  # unknown to dcmqrscp / in its HostTable
        dest = Destination(ae_title, "127.0.0.1", storescp.port)  # both answer our echo
        result = run(examine_destination(courier, node, dest))
        assert result.verdict.confidence is Confidence.UNKNOWN, result.verdict
        assert not result.verdict.usable
        assert result.verdict.text == (f"cannot tell: {ae_title} answers; the PACS DCMQRSCP's "
                                       f"answer does not say whether it knows {ae_title}")
        probe = result.checks[0]
        assert probe.verdict is Verdict.UNCLEAR and "announced DCMTK" in probe.answer
    assert storescp.received_files() == []  # probes never move patient data


def test_a_dead_destination_on_orthanc_uses_the_send_diagnosis(courier: Courier,
                                                               orthanc: Any) -> None:
    """Orthanc answers the probe with a bare 0xC000; the probe's own destination check (the
    same diagnosis as a failed send) answers the reach question, in the same words."""
    node = node_for(orthanc, destinations=(
        Destination(orthanc.dead_destination, "127.0.0.1", orthanc.dead_port),))
    checks = _checks(courier, node)
    assert [c.verdict for c in checks] == [Verdict.OK, Verdict.OK, Verdict.UNCLEAR,
                                           Verdict.FAILED]
    assert f"cannot tell while {orthanc.dead_destination} does not answer" in checks[2].answer
    assert (f"{orthanc.dead_destination} did not answer at 127.0.0.1:{orthanc.dead_port}"
            in checks[3].answer)


def test_unknown_destination_is_a_sure_no_where_the_pacs_says_a801(courier: Courier) -> None:
    with DemoPacs(studies=[]) as pacs:
        node = node_for(pacs, destinations=(Destination("NOWHERE"),))
        checks = _checks(courier, node)
    assert checks[2].verdict is Verdict.FAILED
    assert isinstance(checks[2].error, MoveDestinationUnknown)
    assert checks[3].verdict is Verdict.SKIPPED


def test_pacs_down_stops_after_the_first_check(courier: Courier) -> None:
    from dicom_courier.core.config.profiles import PacsNode, Timeouts
    from tests.peers import free_port

    node = PacsNode(name="down", called_aet="DOWN", host="127.0.0.1", port=free_port(),
                    timeouts=Timeouts(connect=2), destinations=(Destination("WS"),))
    checks = _checks(courier, node)
    assert [c.verdict for c in checks] == [Verdict.FAILED]
    assert "Could not connect" in checks[0].answer
