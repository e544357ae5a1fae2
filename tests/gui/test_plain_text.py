"""The window shows PACS values, error comments, AE titles and profile names as plain text
(issue 7, section 2): Qt guesses "rich text" for labels, message boxes and tooltips, so a study
description ``<b>x</b><img src=x>`` must reach the screen as those very characters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.pacs_manager import PacsManagerDialog
from dicom_courier.gui.plain_text import CELL_LIMIT, TOOLTIP_LIMIT, plain_tooltip
from dicom_courier.gui.query_form import DatePreset
from dicom_courier.gui.queue_model import QueueColumn
from dicom_courier.gui.results_model import Column, StudyResultsModel
from dicom_courier.gui.series_dialog import SeriesDialog
from tests.fakes.hostile import QT_HTML, huge
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

HTML = QT_HTML["bold and image"]  # "<b>x</b><img src=x>"
LINK = QT_HTML["link"]
PROFILE = "<b>Lab</b> PACS"
_TIP = Qt.ItemDataRole.ToolTipRole
_PLAIN = Qt.TextFormat.PlainText


def shown_as(tooltip: str | None) -> str | None:
    """What a person reads in ``tooltip``: Qt renders it as HTML if it looks like HTML."""
    if tooltip is None or not QtGuiNamespace.mightBeRichText(tooltip):
        return tooltip
    document = QTextDocument()
    document.setHtml(tooltip)
    return document.toPlainText()


@pytest.mark.parametrize("text", [*QT_HTML.values(), "a < b & c > d", "one\ntwo <i>3</i>"])
def test_plain_tooltip_reads_as_the_literal_text(qapp: Any, text: str) -> None:
    assert shown_as(plain_tooltip(text)) == text


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path,
           run_async: Any) -> Iterator[MainWindow]:
    study = StudySpec(key="html", patient_name="<b>Bold</b>^Name", patient_id="HTML001",
                      description=HTML, series_count=1, instances_per_series=1)
    with DemoPacs([study]) as pacs:
        node = PacsNode(name=PROFILE, called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port, timeouts=Timeouts(connect=3, idle=10),
                        destinations=(Destination("NOWHERE"),))
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        win = create_main_window(tmp_path / "config")
        qtbot.addWidget(win)
        win.reload_profiles(select=PROFILE)
        win.form.set_date_preset(DatePreset.ANY)  # a blank search asks first
        yield win
        run_async(win.shutdown())




@pytest.mark.network
def test_window_shows_pacs_values_and_errors_as_plain_text(window: MainWindow, run_async: Any,
                                                           qtbot: QtBot) -> None:
    run_async(window.search({"PatientID": "HTML001"}))
    description = window.results_proxy.index(0, Column.DESCRIPTION)
    assert description.data() == HTML
    assert shown_as(description.data(_TIP)) == HTML  # was "x" in bold plus a broken image
    assert shown_as(window.results_proxy.index(0, Column.PATIENT_NAME).data(_TIP)) == \
        "<b>Bold</b>^Name"
    assert window.count_label.textFormat() == _PLAIN

    async def send_to_nowhere() -> None:  # the PACS refuses; the queue row names the profile
        window.results_view.selectRow(0)
        window.send_selection()
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(send_to_nowhere())
    tip = window.queue_model.index(0, QueueColumn.DESTINATION).data(_TIP)
    assert shown_as(tip) == f"NOWHERE (from {PROFILE})"

    error = CourierError(HTML, f"The PACS said {LINK}", f"Check {PROFILE}.", comment=HTML)
    window._show_error(error)
    box = window.findChild(QMessageBox, "errorBox")
    assert box is not None
    assert box.textFormat() == _PLAIN and box.text() == HTML
    info = box.findChild(QLabel, "qt_msgbox_informativelabel")
    assert info is not None and info.textFormat() == _PLAIN and not info.openExternalLinks()
    assert LINK in info.text() and f"Error comment from the PACS: {HTML}" in box.detailedText()
    window.show()
    qtbot.waitExposed(box)
    box.grab().save("/tmp/plain_text_error_box.png")
    window.grab().save("/tmp/plain_text_window.png")
    box.close()


@pytest.mark.network
def test_every_message_box_of_the_window_is_plain_text(window: MainWindow) -> None:
    window.form.request_search()  # nothing filled in: "Search everything?"
    box = window.findChild(QMessageBox, "confirmEmptySearch")
    assert box is not None and box.textFormat() == _PLAIN
    box.close()


def test_series_dialog_heading_and_error_are_plain_text(qtbot: QtBot) -> None:
    study = FindMatch(level=QueryLevel.STUDY, values={"StudyDescription": HTML})
    dialog = SeriesDialog(study, f"{HTML} of <i>Patient</i>", "AI&BOX")
    qtbot.addWidget(dialog)
    assert dialog.heading.textFormat() == _PLAIN and dialog.heading.text().startswith(HTML)
    dialog.show_error(CourierError(HTML, "", LINK))
    assert dialog.status.textFormat() == _PLAIN and LINK in dialog.status.text()
    assert dialog.send_button.text() == "Send selected series to AI&&BOX"  # shows "AI&BOX"


def test_removing_a_profile_named_with_html_asks_in_plain_text(qtbot: QtBot,
                                                              tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "nodes.json")
    store.save([PacsNode(name=PROFILE, called_aet="PACS", host="127.0.0.1", port=104)])

    async def no_echo(pacs: PacsNode) -> Any:
        raise AssertionError("no echo expected")

    dialog = PacsManagerDialog(store, no_echo, select=PROFILE)
    qtbot.addWidget(dialog)
    dialog._on_remove_clicked()
    assert dialog.confirm_label.textFormat() == _PLAIN
    assert PROFILE in dialog.confirm_label.text()


def test_a_multi_megabyte_value_is_cut_in_the_grid_and_its_tooltip(qapp: Any) -> None:
    model = StudyResultsModel()
    big = huge(8 * 1024 * 1024)
    started = time.perf_counter()
    model.append_matches([FindMatch(level=QueryLevel.STUDY, values={
        "StudyDescription": big, "PatientName": big, "StudyInstanceUID": "1.2.3"})])
    description = model.index(0, Column.DESCRIPTION)
    display, tip = description.data(), description.data(_TIP)
    name_tip = model.index(0, Column.PATIENT_NAME).data(_TIP)
    assert time.perf_counter() - started < 5
    assert len(display) == CELL_LIMIT and display.endswith("…")
    assert len(tip) <= TOOLTIP_LIMIT and len(name_tip) <= TOOLTIP_LIMIT
    assert model.match_at(0).get("StudyDescription") == big  # the value itself is whole


def test_grid_cells_show_bidi_and_control_characters_escaped() -> None:
    from dicom_courier.gui.plain_text import cell_text

    assert cell_text("ABC\u202eFED") == "ABC\\u202eFED"  # cannot reorder the cell any more
    assert cell_text("a\x1b[2Jb\nc") == "a\\x1b[2Jb c"
    assert cell_text("Müller^Anna 山田") == "Müller^Anna 山田"
