"""The verdict log: append-only, hash-chained per writer, queryable, verifiable, replayable.

Writing (one VerdictLog per server process):

    log = VerdictLog(open_database("var/verdicts.sqlite3"))
    log.store_bundle(bundle)                       # on load and on every reload
    ids = log.append([VerdictRecord.of(verdict, validated_listing, caller)])   # durable on return

Reading (the `tamis audit` commands and the AuditService):

    audit = AuditLog(open_database(location, create=False))
    audit.query(VerdictQuery(policy="eu.tpd.17.snus"), limit=50)
    audit.verify(); audit.replay(verdict_id)
"""

from service.verdictlog.audit import AuditLog, VerdictNotFound
from service.verdictlog.location import default_location, open_database
from service.verdictlog.query import DECISIONS, Page, VerdictQuery
from service.verdictlog.records import LoggedVerdict, VerdictRecord
from service.verdictlog.replay import Replay
from service.verdictlog.store import Database, LogError, LogUnavailable
from service.verdictlog.verify import Problem, VerifyReport
from service.verdictlog.writer import VerdictLog

__all__ = [
    "DECISIONS",
    "AuditLog",
    "Database",
    "LogError",
    "LogUnavailable",
    "LoggedVerdict",
    "Page",
    "Problem",
    "Replay",
    "VerdictLog",
    "VerdictNotFound",
    "VerdictQuery",
    "VerdictRecord",
    "VerifyReport",
    "default_location",
    "open_database",
]
