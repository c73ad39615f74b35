"""Where a study lives, named by one string (`hydra.sweeper.storage`):

    null                          SQLite in the study folder: <sweep dir>/optuna.db (one machine)
    journal:<path>                Optuna's journal file: an append-only log that every node sharing the
                                  file system writes through a lock made of a symlink, safe on NFS
                                  (clusters: SLURM, Ray)
    sqlite:///... postgresql://...   any SQLAlchemy URL (a database server for many nodes)

The launching process and every job open the same string, so a job reaches its trial wherever it runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ablab.errors import ConfigError

JOURNAL_PREFIX = "journal:"
DEFAULT_FILE = "optuna.db"
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]+@")


def storage_spec(spec: str | None, sweep_dir: Path | str) -> str:
    """The storage string with the default filled in: SQLite under the study folder."""
    if spec is None or str(spec).strip() in ("", "null"):
        return f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_FILE}"
    return str(spec)


def shown(spec: str) -> str:
    """The storage as logs and files may show it: a URL's password replaced by ***."""
    return _PASSWORD.sub(r"\1***@", spec)


def open_storage(spec: str) -> Any:
    """An Optuna storage for `spec`; the folder of a file storage is created."""
    import optuna

    if spec.startswith(JOURNAL_PREFIX):
        path = Path(spec[len(JOURNAL_PREFIX) :]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

        backend = JournalFileBackend(str(path), lock_obj=JournalFileSymlinkLock(str(path)))
        return optuna.storages.JournalStorage(backend)
    if "://" not in spec:
        raise ConfigError(
            f"hydra.sweeper.storage={shown(spec)!r} is not a storage: use null (SQLite in the study folder), "
            "journal:<path> (a shared file system) or a database URL such as sqlite:///path/optuna.db"
        )
    if spec.startswith("sqlite:///"):
        Path(spec[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    # SQLite under parallel jobs: wait for the lock instead of failing at once.
    engine = {"connect_args": {"timeout": 60}} if spec.startswith("sqlite:") else None
    return optuna.storages.RDBStorage(spec, engine_kwargs=engine)
