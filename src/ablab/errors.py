"""Errors a user can fix. Entry points print them as one line and exit non-zero, without a traceback."""


class AblabError(Exception):
    """Base class: the message names the field, file or row and says how to fix it."""


class ConfigError(AblabError, ValueError):
    """A configuration value is out of range or inconsistent with another."""


class DataError(AblabError, ValueError):
    """Input data is missing, unreadable or malformed."""


class RunDiverged(AblabError):
    """The training loss became NaN or infinite; the run is recorded as diverged."""


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
