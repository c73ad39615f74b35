"""Errors a user can fix. Entry points print them as one line and exit non-zero, without a traceback."""

# What went wrong, as a run's record and a single run's exit code say it: a user can fix `config` and
# `data` (exit 2); `diverged` is a result of the study; the rest are faults of the machine or the code.
USER_KINDS = ("config", "data", "diverged")


class AblabError(Exception):
    """Base class: the message names the field, file or row and says how to fix it."""

    kind = "config"


class ConfigError(AblabError, ValueError):
    """A configuration value is out of range or inconsistent with another."""


class DataError(AblabError, ValueError):
    """Input data is missing, unreadable or malformed."""

    kind = "data"


class RunDiverged(AblabError):
    """The training loss became NaN or infinite; the run is recorded as diverged."""

    kind = "diverged"


def error_kind(exc: BaseException) -> str:
    """`config`, `data` or `diverged` for an AblabError behind `exc`; `io` for the machine (a full disk,
    a read-only folder); `crash` for anything else."""
    user_error = find_user_error(exc)
    if user_error is not None:
        return user_error.kind
    return "io" if isinstance(exc, OSError) else "crash"


def exit_code(kind: str | None) -> int:
    """A single run's exit code for an error of this kind: 2 when the user can fix it, else 1."""
    return 2 if kind in USER_KINDS else 1


def find_user_error(exc: BaseException) -> AblabError | None:
    """The AblabError behind `exc`, also when Hydra's instantiate wrapped it in its own exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AblabError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def require(condition: bool, field: str, value: object, valid: str) -> None:
    """Raise a ConfigError naming `field`, its `value` and the `valid` range unless `condition` holds."""
    if not condition:
        raise ConfigError(f"{field}={value!r} is invalid: {valid}")
