"""`tamis audit`: query, show, verify and replay the verdict log; sign and keep checkpoints.

    tamis audit query [--listing ID] [--seller ID] [--decision D] [--policy ID]
                      [--instrument I [--article A]] [--since T] [--until T]
                      [--limit N] [--after CURSOR] [--json]
    tamis audit show ID [--json]
    tamis audit verify [--checkpoints DIR --public-key PUB [--incremental] [--receipt FILE.json]] [--json]
    tamis audit replay ID [--json]
    tamis audit keygen --out DIR
    tamis audit checkpoint --key KEY --out DIR
    tamis audit migrate [--grant-runtime ROLE] [--grant-auditor ROLE]
    tamis audit erase --seller ID
    tamis audit prune --before DATE

Every subcommand takes `--db` (a SQLite path, `sqlite:PATH` or a `postgresql://` DSN), by
default $TAMIS_LOG_DSN, else the server's $TAMIS_LOG, else ./var/verdicts.sqlite3. Exit status:
0 ok, 1 a failed verification, a replay that differs or a log that cannot be read, 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tamis.engine import escape, escape_json, quote
from tamis.service.verdictlog import (
    DECISIONS,
    AuditLog,
    LogError,
    LoggedVerdict,
    Page,
    Problem,
    Receipt,
    Replay,
    VerdictQuery,
    VerifyReport,
    checkpoint,
    default_location,
    open_database,
)
from tamis.service.verdictlog.erase import Erasure
from tamis.service.verdictlog.roles import grant_auditor, grant_runtime
from tamis.service.verdictlog.schema import migrate


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit",
        help="query, verify and replay the verdict log",
        description="Read the verdict log: find verdicts, show one, verify every hash chain, "
        "replay a verdict under the bundle it was judged with.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        default=None,
        metavar="LOCATION",
        help="SQLite file (or sqlite:PATH) or postgresql:// DSN "
        "(default: $TAMIS_LOG_DSN, else $TAMIS_LOG, else ./var/verdicts.sqlite3)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    query = actions.add_parser(
        "query",
        parents=[common],
        help="find verdicts, newest first",
        description="List verdicts matching every filter given, newest first, a page at a time. "
        "Times are RFC 3339 or YYYY-MM-DD (UTC when no offset is given); --since is inclusive, "
        "--until exclusive.",
    )
    add_query_filters(query)
    query.add_argument("--limit", type=int, default=50, metavar="N", help="verdicts per page (default 50)")
    query.add_argument("--after", metavar="CURSOR", help="the cursor printed by the previous page")
    query.set_defaults(handler=_handler(_query))

    show = actions.add_parser("show", parents=[common], help="show one verdict with its request and chain")
    show.add_argument("verdict_id", metavar="ID")
    show.set_defaults(handler=_handler(_show))

    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="verify every hash chain, the indexes and the stored bundles",
        description="Recompute every record's hash, check each chain links and reaches its "
        "writer's head, that the policy and ground indexes match the verdicts, and that each "
        "stored bundle hashes to its digest. Names the first bad record of each chain.",
    )
    verify.add_argument(
        "--checkpoints",
        type=Path,
        metavar="DIR",
        help="also check that the log extends every signed checkpoint in DIR (needs --public-key)",
    )
    verify.add_argument("--public-key", type=Path, metavar="PUB", help="the checkpoints' Ed25519 public key")
    verify.add_argument(
        "--incremental",
        action="store_true",
        help="recompute only the records after the newest checkpoint of each writer (every "
        "checkpoint is still checked); run a full verification now and then",
    )
    verify.add_argument(
        "--receipt",
        type=Path,
        metavar="FILE.json",
        help="also check a verdict's receipt: a Verdict or EvaluateResponse as the server returned it "
        "(JSON); it must be in the log where it says and covered by a checkpoint",
    )
    verify.set_defaults(handler=_handler(_verify))

    keygen = actions.add_parser(
        "keygen",
        help="make the Ed25519 key pair that signs checkpoints",
        description=f"Write DIR/{checkpoint.PRIVATE_KEY_NAME} (PEM, mode 0600: give it to the server, "
        f"never to the database) and DIR/{checkpoint.PUBLIC_KEY_NAME} (give it to auditors). "
        "Existing keys are never overwritten.",
    )
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR")
    keygen.set_defaults(handler=_keygen)

    signed = actions.add_parser(
        "checkpoint",
        parents=[common],
        help="sign the log's current heads into a checkpoint file",
        description="Read every writer's head and the stored bundles, sign them with KEY and write "
        "a checkpoint file into DIR; ship it off the box.",
    )
    signed.add_argument("--key", type=Path, required=True, metavar="KEY", help="Ed25519 private key (PEM)")
    signed.add_argument("--out", type=Path, required=True, metavar="DIR")
    signed.set_defaults(handler=_handler(_checkpoint))

    migrate = actions.add_parser(
        "migrate",
        parents=[common],
        help="create or migrate the log's schema, as the database owner; grant roles",
        description="Bring the log's schema up to date (readers never migrate; the server does only "
        "when its role may). On PostgreSQL, --grant-runtime gives the server's role reading, "
        "inserting and moving its writer head, nothing more; --grant-auditor gives a role reading.",
    )
    migrate.add_argument("--grant-runtime", metavar="ROLE", help="the server's PostgreSQL role")
    migrate.add_argument("--grant-auditor", metavar="ROLE", help="an auditor's PostgreSQL role")
    migrate.set_defaults(handler=_handler(_migrate, writable=True))

    erase = actions.add_parser(
        "erase",
        parents=[common],
        help="erase a seller's listings from the log (personal data); recorded",
        description="Erase the listing (request) of every verdict of the seller; decisions, grounds, "
        "ids and the chain stay, and verify stays ok. The erasure is recorded in the log.",
    )
    erase.add_argument("--seller", required=True, metavar="ID")
    erase.set_defaults(handler=_handler(_erase, writable=True))

    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="erase the listings logged before a date (retention); recorded",
        description="Erase the listing (request) of every verdict logged before DATE (UTC unless "
        "an offset is given); decisions, grounds, ids and the chain stay. Recorded in the log.",
    )
    prune.add_argument("--before", required=True, type=_moment, metavar="DATE")
    prune.set_defaults(handler=_handler(_prune, writable=True))

    replay = actions.add_parser(
        "replay",
        parents=[common],
        help="judge a logged verdict again and compare",
        description="Rebuild the verdict's bundle from the sources stored in the log, judge the "
        "stored request as of the stored date, and say whether decision and grounds are identical.",
    )
    replay.add_argument("verdict_id", metavar="ID")
    replay.set_defaults(handler=_handler(_replay))


def add_query_filters(parser: argparse.ArgumentParser) -> None:
    """The filters of `tamis audit query` (also those of `tamis backtest --log`)."""
    parser.add_argument("--listing", metavar="ID", help="the listing's id")
    parser.add_argument("--seller", metavar="ID", help="the seller's id")
    parser.add_argument("--decision", choices=DECISIONS)
    parser.add_argument("--policy", metavar="ID", help="a policy that matched")
    parser.add_argument("--instrument", metavar="ID", help="a cited instrument, e.g. celex:32014L0040")
    parser.add_argument("--article", metavar="A", help="a cited article of --instrument")
    parser.add_argument("--since", type=_moment, metavar="T", help="from this time on (inclusive)")
    parser.add_argument("--until", type=_moment, metavar="T", help="before this time (exclusive)")


def query_of(arguments: argparse.Namespace) -> VerdictQuery:
    """The VerdictQuery the filters of add_query_filters describe (ValueError if inconsistent)."""
    return VerdictQuery(
        listing_id=arguments.listing,
        seller_id=arguments.seller,
        decision=arguments.decision,
        policy=arguments.policy,
        instrument=arguments.instrument,
        article=arguments.article,
        since=arguments.since,
        until=arguments.until,
    )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text) if "T" in text or " " in text else None
        if moment is None:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD or an RFC 3339 time, got {quote(text)}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _handler(
    action: Callable[[AuditLog, argparse.Namespace], int], *, writable: bool = False
) -> Callable[[argparse.Namespace], int]:
    """Open the log named by --db (read-only unless `writable`), run `action`, report errors in
    one line."""

    def run(arguments: argparse.Namespace) -> int:
        location = arguments.db or default_location()
        try:
            audit = AuditLog(open_database(location, create=writable, read_only=not writable))
        except ValueError as error:
            print(f"tamis: {escape(str(error))}", file=sys.stderr)
            return 2
        try:
            return action(audit, arguments)
        except ValueError as error:  # a CheckpointError (a key or checkpoint file) included
            print(f"tamis: {escape(str(error))}", file=sys.stderr)
            return 2
        except (LogError, OSError) as error:
            print(f"tamis: {escape(str(error))}", file=sys.stderr)
            return 1
        finally:
            audit.close()

    return run


def _query(audit: AuditLog, arguments: argparse.Namespace) -> int:
    page = audit.query(query_of(arguments), arguments.limit, arguments.after)
    if arguments.json:
        _print_json(
            {"verdicts": [v.to_dict() for v in page.verdicts], "next_page_token": page.next_cursor or ""}
        )
    else:
        _print_page(page)
    return 0


def _print_page(page: Page) -> None:
    if not page.verdicts:
        print("no verdicts")
        return
    rows = [("VERDICT ID", "TIME (UTC)", "DECISION", "LISTING", "SELLER", "POLICIES")]
    rows += [
        (
            verdict.id,
            verdict.time.strftime("%Y-%m-%d %H:%M:%S"),
            verdict.record.decision,
            escape(verdict.record.listing_id),
            escape(verdict.record.seller_id or "-"),
            ", ".join(verdict.policies) or "-",
        )
        for verdict in page.verdicts
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    if page.next_cursor:
        print(f"\nmore: --after {page.next_cursor}")


def _show(audit: AuditLog, arguments: argparse.Namespace) -> int:
    verdict = audit.get(arguments.verdict_id)
    if verdict is None:
        print(f"tamis: no verdict {escape(arguments.verdict_id)} in the log", file=sys.stderr)
        return 1
    if arguments.json:
        _print_json(verdict.to_dict())
    else:
        _print_verdict(verdict)
    return 0


def _print_verdict(verdict: LoggedVerdict) -> None:
    data = verdict.to_dict()
    record = verdict.record
    seller = f" (seller {escape(record.seller_id)})" if record.seller_id else ""
    print(f"verdict   {verdict.id}")
    print(f"time      {data['time']}   caller {escape(record.caller or '-')}")
    print(f"listing   {escape(record.listing_id)}{seller}, judged as of {record.as_of.isoformat()}")
    print(f"decision  {record.decision.upper()}")
    print(f"bundle    {record.bundle_digest}")
    print(f"chain     writer {verdict.writer} seq {verdict.seq}")
    print(f"          previous {verdict.prev_hash}")
    print(f"          hash     {verdict.hash}")
    for match in data["verdict"]["matches"]:
        print(f"  {match['decision']}: {match['policy']} ({', '.join(match['countries'])})")
        for ground in match["grounds"]:
            version = f" [{ground['version']}]" if ground.get("version") else ""
            print(f"      {ground['instrument']} art. {ground['article']}{version}")
        for item in match["evidence"]:
            where = f"[{item['start']}:{item['end']}]" if "start" in item else ""
            print(f"      evidence {item['field']}{where} {quote(item['text'], 200)} ({_matcher(item)})")
    print(f"request   {escape(str(record.request)) if record.request else '(erased)'}")
    if record.request_hash:
        print(f"          sha256 {record.request_hash}")


def _matcher(evidence: dict[str, Any]) -> str:
    return str(evidence.get("lexicon") or evidence.get("condition") or "-")


def _verify(audit: AuditLog, arguments: argparse.Namespace) -> int:
    if (arguments.checkpoints is None) != (arguments.public_key is None):
        raise ValueError("--checkpoints and --public-key go together")
    signed: list[checkpoint.SignedCheckpoint] = []
    unreadable: list[str] = []
    if arguments.checkpoints is not None:
        signed, unreadable = checkpoint.read_all(
            arguments.checkpoints, checkpoint.load_public_key(arguments.public_key)
        )
    if arguments.incremental and arguments.checkpoints is None:
        raise ValueError("--incremental needs --checkpoints and --public-key: it starts from them")
    report: VerifyReport = audit.verify(signed, incremental=arguments.incremental)
    report.problems[:0] = [Problem(reason) for reason in unreadable]
    if arguments.receipt is not None:
        if arguments.checkpoints is None:
            raise ValueError(
                "--receipt needs --checkpoints and --public-key: a receipt is proven by a checkpoint"
            )
        report.problems += audit.check_receipt(read_receipt(arguments.receipt), signed)
    if arguments.json:
        _print_json(report.to_dict())
        return 0 if report.ok else 1
    status = "ok" if report.ok else "FAILED"
    anchored = f", against {report.checkpoints} signed checkpoint(s)" if arguments.checkpoints else ""
    if arguments.incremental:
        anchored += " (records after them)"
    print(
        f"{status}: {report.verdicts:,} verdicts in {len(report.heads)} chain(s), "
        f"{report.bundles} bundle(s){anchored}"
    )
    if arguments.receipt is not None and report.ok:
        print(f"  receipt: {arguments.receipt} is in the log where it says, covered by a signed checkpoint")
    for problem in report.problems:
        print(f"  bad: {escape(str(problem))}")
    for head in report.heads:
        print(f"  head: writer {head.writer} seq {head.seq} hash {head.hash}")
    return 0 if report.ok else 1


def read_receipt(path: Path) -> Receipt:
    """The receipt in a Verdict (or EvaluateResponse) as the server returned it, in JSON."""
    try:
        with path.open("rb") as source:
            data = json.loads(source.read(1 << 20))
        verdict: Any = data.get("verdict", data) if isinstance(data, dict) else {}
        receipt = verdict["receipt"]
        return Receipt(
            str(verdict["verdict_id"]), str(receipt["writer"]), int(receipt["seq"]), str(receipt["hash"])
        )
    except OSError as error:
        raise ValueError(f"cannot read receipt {path}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ValueError(
            f"{path}: not a verdict with a receipt (expected verdict_id and receipt: writer, seq, hash)"
        ) from None


def _migrate(audit: AuditLog, arguments: argparse.Namespace) -> int:
    session = audit.database.connect()
    try:
        version = migrate(session, datetime.now(UTC))
        if arguments.grant_runtime:
            grant_runtime(session, arguments.grant_runtime)
        if arguments.grant_auditor:
            grant_auditor(session, arguments.grant_auditor)
    finally:
        session.close()
    granted = [
        f"{kind} {role}"
        for kind, role in (("runtime", arguments.grant_runtime), ("auditor", arguments.grant_auditor))
        if role
    ]
    print(
        f"schema version {version} in {audit.database.describe()}"
        + (f"; granted {', '.join(granted)}" if granted else "")
    )
    return 0


def _erase(audit: AuditLog, arguments: argparse.Namespace) -> int:
    return _erased(audit.erase(seller_id=arguments.seller), f"of seller {arguments.seller}")


def _prune(audit: AuditLog, arguments: argparse.Namespace) -> int:
    return _erased(audit.erase(before=arguments.before), f"logged before {arguments.before.isoformat()}")


def _erased(erasure: Erasure, which: str) -> int:
    print(f"erased the listings of {erasure.verdicts:,} verdict(s) {which}; recorded as erasure {erasure.id}")
    return 0


def _keygen(arguments: argparse.Namespace) -> int:
    try:
        private, public = checkpoint.generate_keys(arguments.out)
    except (OSError, checkpoint.CheckpointError) as error:
        print(f"tamis: {error}", file=sys.stderr)
        return 1
    print(f"private key {private} (mode 0600: for the server's checkpoint_key, never in the database)")
    print(f"public key  {public} (for auditors: tamis audit verify --public-key)")
    return 0


def _checkpoint(audit: AuditLog, arguments: argparse.Namespace) -> int:
    key = checkpoint.load_private_key(arguments.key)
    state = audit.checkpoint()
    path = checkpoint.write(arguments.out, state, key)
    heads = sum(head.seq for head in state.writers)
    print(f"{path}: {len(state.writers)} writer(s), {heads:,} verdicts, {len(state.bundles)} bundle(s)")
    return 0


def _replay(audit: AuditLog, arguments: argparse.Namespace) -> int:
    replay: Replay = audit.replay(arguments.verdict_id)
    if arguments.json:
        _print_json(replay.to_dict())
        return 0 if replay.identical else 1
    stored = replay.verdict.record
    if replay.identical:
        print(
            f"identical: {stored.decision} on the same grounds, as of {stored.as_of.isoformat()} "
            f"under {stored.bundle_digest}"
        )
    else:
        print(
            f"DIFFERENT (decision {'same' if replay.decision_identical else 'differs'}, "
            f"grounds {'same' if replay.grounds_identical else 'differ'}):"
        )
    for line in replay.differences:
        print(f"  {escape(line)}")
    return 0 if replay.identical else 1


def _print_json(data: Any) -> None:
    print(escape_json(json.dumps(data, ensure_ascii=False, indent=2)))
