"""The ``dicom-courier`` argument parser: every bad argument is one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from dicom_courier.core.text.safe_text import printable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CANCELLED = 4

EXIT_CODES_HELP = """exit codes:
  0  everything completed (also when some images arrived with warnings)
  1  failed (the message says what happened and what to do)
  2  usage error (a bad argument or value)
  3  partly completed (some images failed, some answers of the PACS could not be read,
     or some typed UIDs are not on the PACS); the rest was printed or sent; also a send
     whose images --verify did not all find at the destination
  4  cancelled (Ctrl-C)"""

RECEIVE_EXIT_CODES_HELP = """exit codes:
  0  stopped with Ctrl-C or SIGTERM (what arrived stays in the folder)
  1  the receiver could not start (port in use, folder not writable, ...): the message says
     what to do
  2  usage error (a bad argument or value)"""

NODES_TEST_EXIT_CODES_HELP = """exit codes:
  0  every check passed (with --dest: the destination works end to end, or nothing refused
     it and no --probe-study was given, so nothing was sent)
  1  a check failed (the PACS or the destination does not answer, does not know it, the
     probe did not arrive, ...): the failed step says why
  2  usage error (a bad argument or value)
  4  cancelled (Ctrl-C)"""


class UsageError(Exception):
    """A bad argument; printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes typed text as it is ("unrecognized arguments: a<LF>b"): keep one line
        sys.stderr.write(f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """DICOM TLS (PS3.15 B.1) options, for 'nodes add' and the --host/--port/--aet commands."""
    group = parser.add_argument_group("DICOM TLS (PS3.15 B.1)")
    group.add_argument("--tls", action="store_true",
                       help="use DICOM TLS; the PACS's certificate is checked")
    group.add_argument("--tls-ca", metavar="FILE",
                       help="PEM file of the CA(s) that sign the PACS's certificate "
                       "(default: this computer's trusted CAs)")
    group.add_argument("--tls-cert", metavar="FILE",
                       help="our client certificate (PEM), if the PACS requires one")
    group.add_argument("--tls-key", metavar="FILE",
                       help="the private key of --tls-cert (PEM, no password)")
    group.add_argument("--tls-no-verify", action="store_true",
                       help="do NOT check the PACS's certificate (anyone on the network can "
                       "pose as the PACS; testing only)")


def _pacs_options() -> OneLineParser:
    parent = OneLineParser(add_help=False)
    group = parent.add_argument_group("which PACS (a saved profile, or an address)")
    group.add_argument("--pacs", metavar="NAME", help="a PACS profile saved with 'nodes add'")
    group.add_argument("--host", help="PACS host name or IP address")
    group.add_argument("--port", help="PACS DICOM port (1-65535)")
    group.add_argument("--aet", metavar="CALLED", help="the PACS's AE title")
    group.add_argument("--calling-aet", metavar="OURS",
                       help="our AE title, as registered on the PACS (default COURIER)")
    group.add_argument("--idle-timeout", metavar="S",
                       help="give up when the PACS is silent this long (default 120)")
    group.add_argument("--deadline", metavar="S", help="give up after this long in total")
    group.add_argument("--connect-timeout", metavar="S", help="TCP connect timeout (default 10)")
    group.add_argument("--max-pdu", metavar="BYTES",
                       help="the largest PDU we receive (PS3.8 D.1.1): 0 = unlimited (the "
                       "default), or 4096 to 2147483648")
    add_tls_options(parent)
    return parent


def _query_options() -> OneLineParser:
    parent = OneLineParser(add_help=False)
    parent.add_argument("--level", default="STUDY", help="PATIENT, STUDY, SERIES or IMAGE")
    parent.add_argument("--model", default="study", help="study (Study Root) or patient")
    parent.add_argument("-k", "--key", action="append", default=[], metavar="KEYWORD=VALUE",
                        help="a matching key (Keyword=Value, wildcards * and ?) or a return key "
                        "(Keyword); repeatable")
    return parent


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="dicom-courier",
        description="Find studies on a PACS and send them to a workstation (C-FIND / C-MOVE).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config-dir", metavar="DIR",
                        help="keep settings in DIR (also: DICOM_COURIER_CONFIG_DIR)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv for DICOM protocol details; may show patient data)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    pacs, query = _pacs_options(), _query_options()

    nodes = commands.add_parser("nodes", help="add, list, remove and test PACS profiles")
    nodes.set_defaults(command_parser=nodes)  # 'nodes' alone prints this parser's usage
    node_cmds = nodes.add_subparsers(dest="nodes_command", metavar="ACTION",
                                     parser_class=OneLineParser)
    add = node_cmds.add_parser("add", help="save a PACS profile with its move destinations")
    add.add_argument("name")
    add.add_argument("--host", required=True)
    add.add_argument("--port", required=True)
    add.add_argument("--aet", required=True, metavar="CALLED", help="the PACS's AE title")
    add.add_argument("--calling-aet", metavar="OURS", help="our AE title (default COURIER)")
    add.add_argument("--dest", action="append", default=[], metavar="AET[@HOST:PORT]",
                     help="a move destination the PACS knows; repeatable, the first is the "
                     "default; with @HOST:PORT 'nodes test' can echo it too")
    add.add_argument("--queryable-dest", action="append", default=[], metavar="AET",
                     help="this --dest (given as AET@HOST:PORT) answers C-FIND there, so "
                     "'move --verify' and 'nodes test --dest' can ask it what arrived; "
                     "repeatable")
    add.add_argument("--replace", action="store_true",
                     help="overwrite a profile of the same name (its destinations too)")
    add.add_argument("--idle-timeout", metavar="S")
    add.add_argument("--deadline", metavar="S")
    add.add_argument("--connect-timeout", metavar="S")
    add.add_argument("--max-message-mb", metavar="MB",
                     help="the largest answer (and all answers of one search) the PACS may "
                     "send, in MB (default 64)")
    add.add_argument("--retrieve", metavar="METHOD",
                     help="how 'move --dest @here' brings studies to this computer: move "
                     "(C-MOVE to our receiver, the default), get (C-GET: the PACS needs "
                     "no address for us) or auto (C-MOVE, C-GET if the PACS cannot send "
                     "to us)")
    add_tls_options(add)
    node_cmds.add_parser("list", help="show saved profiles").add_argument(
        "--format", choices=("table", "json"), default="table")
    node_cmds.add_parser("remove", help="delete a profile").add_argument("name")
    test = node_cmds.add_parser(
        "test", help="echo a profile's PACS and its destinations; with --dest, test that "
        "destination end to end (the destination doctor)", epilog=NODES_TEST_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    test.add_argument("name")
    test.add_argument("--dest", metavar="AET[@HOST:PORT]",
                      help="test only this destination, step by step, with a verdict; "
                      "@here: this computer, the way the profile retrieves (C-MOVE to the "
                      "built-in receiver, C-GET, or automatic)")
    test.add_argument("--probe-study", metavar="UID",
                      help="with --dest: move the smallest instance of this study to the "
                      "destination and check that it arrived (nothing is sent without it)")

    commands.add_parser("echo", parents=[pacs], help="C-ECHO a PACS (is it there, does it "
                        "accept us?)")

    find = commands.add_parser("find", parents=[pacs, query], help="search a PACS (C-FIND)")
    find.add_argument("--format", choices=("table", "json", "csv"), default="table")
    find.add_argument("--limit", metavar="N", help="stop after N results (sends C-CANCEL)")
    find.add_argument("--distinct", action="store_true",
                      help="show each study (patient, series, image: the level's unique key) "
                      "once, the first answer for it, even if the PACS sent it several times")

    move = commands.add_parser(
        "move", parents=[pacs, query], help="send studies, series or images (C-MOVE)",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    move.add_argument("--dest", metavar="AET",
                      help="destination AE title (default: the profile's first destination); "
                      "@here: this computer, by the profile's retrieve method (C-MOVE to the "
                      "built-in receiver for the duration, or C-GET)")
    here = move.add_argument_group("with --dest @here (default: the receiver's settings)")
    here.add_argument("--receiver-aet", metavar="AET", help="our receiver's AE title, the "
                      "move destination the PACS knows this computer by")
    here.add_argument("--receiver-port", metavar="PORT", help="the port our receiver "
                      "listens on while the move runs")
    here.add_argument("--folder", metavar="DIR", help="where the images are written")
    move.add_argument("--study", action="append", default=[], metavar="UID")
    move.add_argument("--series", action="append", default=[], metavar="UID")
    move.add_argument("--image", action="append", default=[], metavar="UID",
                      help="a SOP Instance UID (needs --series)")
    move.add_argument("--patient-id", metavar="ID",
                      help="with --model patient: the patient's ID, for a PACS that cannot "
                      "look it up from the study")
    move.add_argument("--priority", default="medium", help="low, medium or high")
    move.add_argument("--json", action="store_true",
                      help="one JSON object per line for each progress event, then a summary")
    move.add_argument("--verify", action="store_true",
                      help="after each move, ask the destination (saved with "
                      "--queryable-dest) what arrived; not all there: exit code 3")

    receive = commands.add_parser(
        "receive", help="run the built-in receiver (a DICOM storage SCP) until Ctrl-C",
        description="Receive studies sent to this computer (C-STORE) into a folder, as "
                    "Patient ID/Study/Series/SOP.dcm. Settings: receiver.json, then these "
                    "options.", epilog=RECEIVE_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    receive.add_argument("--port", metavar="N", help="TCP port to listen on (11112)")
    receive.add_argument("--aet", metavar="AET", help="our AE title (COURIER)")
    receive.add_argument("--folder", metavar="DIR",
                         help="where files go (the data folder's 'received')")
    receive.add_argument("--bind", metavar="ADDR", help="listen on this address only "
                         "(default: all interfaces)")
    receive.add_argument("--allow", metavar="AET", nargs="+", action="extend",
                         help="only these AE titles may send: the list replaces the PACS "
                         "profiles' AE titles, who may send by default (give every sender, "
                         "the PACS too)")

    demo = commands.add_parser("demo", help="run echo, find and move on a built-in demo PACS")
    demo.add_argument("--delay", default="0.03", metavar="S",
                      help="seconds the demo PACS waits per image, so you can watch (0.03)")
    _add_queue_parser(commands)
    return parser


def _add_queue_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    """``queue``: the durable queue and the history of sends (jobs.db in the data folder)."""
    queue = commands.add_parser(
        "queue", help="queue sends for later, run them, retry, list and export the history",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    queue.set_defaults(command_parser=queue)  # 'queue' alone prints this parser's usage
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION",
                                   parser_class=OneLineParser)
    add = actions.add_parser("add", help="record studies to send (by UID; nothing is sent yet)")
    add.add_argument("--pacs", required=True, metavar="NAME",
                     help="a PACS profile saved with 'nodes add'")
    add.add_argument("--study", action="append", default=[], metavar="UID",
                     help="a Study Instance UID; repeatable")
    add.add_argument("--dest", metavar="AET",
                     help="destination AE title (default: the profile's first destination); "
                     "@here: this computer ('queue run' starts the built-in receiver when "
                     "the profile retrieves with C-MOVE or automatically)")
    add.add_argument("--priority", default="medium", help="low, medium or high")
    add.add_argument("--patient-id", metavar="ID", help="recorded for the history (optional)")
    add.add_argument("--label", metavar="TEXT",
                     help="what a person knows the send by, e.g. 'Doe, Jane — CT chest'")
    listing = actions.add_parser("list", help="show the jobs in the queue and their history")
    listing.add_argument("--state", metavar="S",
                         help="only jobs in this state (queued, running, completed, partial, "
                         "failed, cancelled, interrupted, requeued)")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    actions.add_parser("run", help="send every queued or interrupted job now (at most 2 at "
                       "once per PACS)", epilog=EXIT_CODES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    retry = actions.add_parser("retry", help="queue a finished job again (run it with "
                               "'queue run')")
    retry.add_argument("job_id", metavar="JOB_ID")
    export = actions.add_parser("export", help="write the history of sends as CSV")
    export.add_argument("--csv", required=True, metavar="FILE", help="the file ('-': stdout)")
    export.add_argument("--since", metavar="YYYY-MM-DD", help="jobs queued on or after")
    export.add_argument("--until", metavar="YYYY-MM-DD", help="jobs queued on or before")
    export.add_argument("--destination", metavar="AET", help="only jobs sent to this AE title")
    export.add_argument("--status", metavar="S", help="only jobs that ended in this state")
    export.add_argument("--patient-id", metavar="ID", help="only jobs for this patient ID")
    export.add_argument("--text", metavar="TEXT", help="only jobs whose patient ID, label, "
                        "study UID, destination, PACS or user contains TEXT")
    purge = actions.add_parser("purge", help="delete finished jobs older than N days "
                               "(jobs not yet sent are kept)")
    purge.add_argument("--days", metavar="N", help="keep this many days (default 90)")
