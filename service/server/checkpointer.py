"""The server's signed checkpoints: every `checkpoint_interval` seconds, and once more on stop.

The key is read once at start and kept in memory only; the database never sees it. Each
checkpoint is written to `checkpoint_dir` as a new file (never over another); shipping that
directory off the box (a write-once bucket, the auditor's mailbox) is what makes it evidence. A
checkpoint that cannot be taken (the database is down, the disk is full) is logged and tried
again at the next tick; serving never waits for it. With `--workers N`, worker 0 alone signs:
a checkpoint covers every writer of the log.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tamis.service.server.logs import logger
from tamis.service.verdictlog import AuditLog, LogError, checkpoint, open_database


class Checkpointer:
    """A thread that signs the log's heads into `directory` every `interval` seconds."""

    def __init__(self, location: str, key: Path, directory: Path, interval: float) -> None:
        self._key = checkpoint.load_private_key(key)
        self._audit = AuditLog(open_database(location, create=False, read_only=True))
        self.directory = directory
        self.interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tamis-checkpoints", daemon=True)
        self._log = logger()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking, then sign one last checkpoint (call once every verdict is written)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self.write_now()
        self._audit.close()

    def write_now(self) -> Path | None:
        """Sign and write a checkpoint now; its path, or None (logged) if it could not be made."""
        try:
            state = self._audit.checkpoint()
            path = checkpoint.write(self.directory, state, self._key)
        except (LogError, OSError, ValueError) as error:
            self._log.warning("checkpoint not written; retrying at the next tick", error=str(error))
            return None
        self._log.info(
            "checkpoint written",
            path=str(path),
            writers=len(state.writers),
            verdicts=sum(head.seq for head in state.writers),
        )
        return path

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.write_now()
