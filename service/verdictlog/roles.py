"""Least privilege on PostgreSQL: what the server's runtime role and an auditor's role may do.

The schema belongs to an owner role, which alone runs migrations (`tamis audit migrate`) and
erasures. The server's runtime role may read, insert, and move writer heads; it cannot change
or delete a verdict, a bundle or an index row, nor alter the schema, whatever the triggers. An
auditor's role may only read. (SQLite has no roles: give auditors a read-only copy.)
"""

from __future__ import annotations

import re

from tamis.service.verdictlog.store import LogError, Session

#: Tables the server appends to; it moves its writer's head in `writers`.
APPENDED = ("writers", "bundles", "bundle_sources", "verdicts", "verdict_policies", "verdict_grounds")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_runtime(session: Session, role: str) -> None:
    """Let `role` read the log, insert into it and move writer heads: nothing else."""
    schema = _schema(session, role)
    session.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    session.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    session.execute(f"GRANT INSERT ON {', '.join(APPENDED)} TO {role}")
    session.execute(f"GRANT UPDATE (head_seq, head_hash) ON writers TO {role}")


def grant_auditor(session: Session, role: str) -> None:
    """Let `role` read the log: nothing else."""
    schema = _schema(session, role)
    session.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    session.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")


def _schema(session: Session, role: str) -> str:
    """The log's schema, quoted; refuses SQLite and role names that would need quoting."""
    if session.dialect.name != "postgresql":
        raise LogError("roles exist on PostgreSQL only; give SQLite auditors a read-only copy instead")
    if not _ROLE.match(role):
        raise ValueError(f"role names are lower-case letters, digits and _ (got {role[:64]!r})")
    row = session.one("SELECT quote_ident(current_schema())")
    if row is None or row[0] is None:
        raise LogError("the session has no current schema")
    return str(row[0])
