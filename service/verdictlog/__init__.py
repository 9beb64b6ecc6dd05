"""The verdict log: append-only, hash-chained per writer, queryable, verifiable, replayable.

Writing (one VerdictLog per server process; the server uses it through sink.LogSink):

    log = VerdictLog(open_database("var/verdicts.sqlite3"))
    log.store_bundle(bundle)                       # on load and on every reload
    ids = log.append([VerdictRecord.of(verdict, validated_listing, caller)])   # durable on return

Reading (the `tamis audit` commands and tamis.v1.AuditService):

    audit = AuditLog(open_database(location, create=False, read_only=True))
    audit.query(VerdictQuery(policy="eu.tpd.17.snus"), limit=50)
    audit.verify(); audit.replay(verdict_id)

How it holds together:

- A row per verdict: a UUIDv7 id (ids sort by time), time, caller, listing and seller ids, the
  validated listing as canonical JSON with the `as_of` date, decision, the matches (grounds with
  article versions, evidence) as canonical JSON, the bundle digest, and its chain link.
- Chains (chain.py): each server process is a *writer* with a chain of its own (so replicas can
  share one PostgreSQL without coordinating); a row's hash is SHA-256 over every stored field
  and the previous row's hash. `writers` records each chain's head, updated in the same
  transaction, so removing the newest rows shows too. Against whoever can write the database
  (re-chaining, a cut tail, a deleted writer), signed checkpoints kept elsewhere are the proof
  (checkpoint.py). Triggers refuse UPDATE and DELETE but for erasing a request (erase.py), and
  the server's PostgreSQL role may only insert (roles.py): defence in depth.
- Durability: append returns once COMMIT returns. SQLite runs WAL with `synchronous=FULL`
  (NORMAL would lose the last commits on power loss); PostgreSQL sessions set
  `synchronous_commit=on`. Concurrent appends share commits (writer.py); a batch is one.
  SQLite checkpoints run on a thread of their own after commits (sqlite.py), not in a caller's.
- Outages: database errors surface as LogUnavailable; the writer reconnects by itself (backing
  off while the database stays down), re-reading its head, so a failed or uncertain COMMIT
  never forks the chain.
- Queries (query.py, schema.py): matched policies and cited (instrument, article) pairs live in
  side tables with B-tree indexes ending in the verdict id, so every filter is one backward
  index range scan that stops after a page; time ranges are id ranges.
- Bundles are stored once per digest (their source files), so replay.py can rebuild any bundle
  from the log alone and judge the stored request again.
"""

from tamis.service.verdictlog import checkpoint
from tamis.service.verdictlog.audit import AuditLog, VerdictNotFound
from tamis.service.verdictlog.location import default_location, open_database
from tamis.service.verdictlog.query import DECISIONS, Page, VerdictQuery
from tamis.service.verdictlog.records import LoggedVerdict, Receipt, VerdictRecord
from tamis.service.verdictlog.replay import CannotRebuild, Replay, rebuild_bundle
from tamis.service.verdictlog.store import Database, LogError, LogUnavailable
from tamis.service.verdictlog.verify import Problem, VerifyReport
from tamis.service.verdictlog.writer import VerdictLog

__all__ = [
    "DECISIONS",
    "AuditLog",
    "CannotRebuild",
    "Database",
    "LogError",
    "LogUnavailable",
    "LoggedVerdict",
    "Page",
    "Problem",
    "Receipt",
    "Replay",
    "VerdictLog",
    "VerdictNotFound",
    "VerdictQuery",
    "VerdictRecord",
    "VerifyReport",
    "checkpoint",
    "default_location",
    "open_database",
    "rebuild_bundle",
]
