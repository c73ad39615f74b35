"""Reading an ablab checkpoint (weights plus the run's resolved config), and rebuilding its run from it
(`load_run`). The reading imports no Lightning, so commands that take a checkpoint reject a wrong path
at once."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import ConfigError, DataError

# Types beyond tensors, numbers, strings and plain containers that ablab checkpoints hold, allowed to
# `torch.load(weights_only=True)`. None today: every callback stores plain values (RngStateInCheckpoint
# turns numpy's generator state into a tensor for this reason), and a test loads every family's
# checkpoints with this list. A callback that stores another type adds it here.
SAFE_GLOBALS: list[Any] = []


@contextmanager
def safe_loading() -> Iterator[None]:
    """Loads inside accept `SAFE_GLOBALS` besides torch's own: wrap Lightning's checkpoint reads
    (`trainer.fit(ckpt_path=..., weights_only=True)`) in it."""
    import torch

    with torch.serialization.safe_globals(SAFE_GLOBALS):
        yield


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load` with `weights_only=True` said explicitly, so no pickled code runs whatever torch's
    default or `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` say; raises what torch raises."""
    import torch

    with safe_loading():
        return torch.load(path, map_location="cpu", weights_only=True)


def load_problem(exc: BaseException, path: Path) -> str:
    """Why `read_checkpoint(path)` failed, in a few words: torch's own messages run over several lines
    and end by suggesting the unsafe `weights_only=False`. Checkpoints are zip archives, so the file's
    first bytes tell a foreign file from a truncated one."""
    import zipfile

    try:
        with path.open("rb") as handle:
            zip_like = handle.read(2) == b"PK"
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    if not zip_like:
        return "it is not a torch checkpoint (not a zip archive)"
    if not zipfile.is_zipfile(path) or "PytorchStreamReader" in str(exc):
        return "it is truncated or corrupted (not a complete torch zip archive)"
    text = str(exc)
    if "Weights only load failed" in text:
        unsupported = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), "")
        return f"it holds pickled objects other than plain data, which are never loaded ({unsupported})"
    if isinstance(exc, OSError) and exc.errno not in (None, errno.EINVAL):
        return f"it cannot be read ({exc.strerror})"
    lines = text.strip().splitlines()
    return f"it is not a readable torch checkpoint ({type(exc).__name__}: {lines[0] if lines else ''})"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by an ablab run (it stores its resolved config), or a DataError."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "checkpoint not found"
        raise DataError(f"{path}: {what}; pass a .ckpt file from a run's checkpoints/ folder")
    try:
        checkpoint = read_checkpoint(path)
    except Exception as exc:
        raise DataError(
            f"{path}: not a readable checkpoint: {load_problem(exc, path)}; pass a .ckpt file written by "
            "`python train.py`"
        ) from exc
    if not isinstance(checkpoint, dict) or "config" not in checkpoint.get("ablab", {}):
        raise DataError(f"{path}: no ablab config inside; use a checkpoint written by `python train.py`")
    return checkpoint


# Where each family's classes lived before the family layout: checkpoints written then name these in
# their stored config's `_target_`s, and still load (`upgrade_targets`).
LEGACY_TARGETS = {
    "ablab.models.layers.attention.": "ablab.components.attention.",
    "ablab.models.layers.heads.": "ablab.components.heads.",
    "ablab.models.hnet.": "ablab.families.hnet.model.",
    "ablab.data.hnet.": "ablab.families.hnet.data.",
    "ablab.tasks.hnet.": "ablab.families.hnet.task.",
    "ablab.models.hybrid.MeanPool": "ablab.components.pooling.MeanPool",
    "ablab.models.hybrid.MaxPool": "ablab.components.pooling.MaxPool",
    "ablab.models.hybrid.LastPool": "ablab.components.pooling.LastPool",
    "ablab.models.hybrid.": "ablab.families.hybrid.model.",
    "ablab.data.tabular.": "ablab.families.hybrid.data.",
    "ablab.tasks.classification.": "ablab.families.hybrid.task.",
    "ablab.models.amp.": "ablab.families.amp.model.",
    "ablab.data.peptides.": "ablab.families.amp.data.",
    "ablab.tasks.binary.": "ablab.families.amp.task.",
    "ablab.encoders.text.": "ablab.families.text2sign.text_encoder.",
    "ablab.encoders.": "ablab.families.amp.encoders.",
    "ablab.models.text2sign.": "ablab.families.text2sign.model.",
    "ablab.data.signs.": "ablab.families.text2sign.data.",
    "ablab.tasks.text2sign.": "ablab.families.text2sign.task.",
    "ablab.callbacks.sampling_cost.": "ablab.families.text2sign.cost.",
    "ablab.callbacks.": "ablab.lightning.callbacks.",
    "ablab.loggers.": "ablab.lightning.loggers.",
}


def upgrade_target(target: str) -> str:
    """A `_target_` of before the family layout, as it is named now; others unchanged."""
    for old in sorted(LEGACY_TARGETS, key=len, reverse=True):
        if target.startswith(old):
            return LEGACY_TARGETS[old] + target[len(old) :]
    return target


def upgrade_targets(node: Any) -> Any:
    """A stored config with every `_target_` named as today."""
    if isinstance(node, dict):
        return {
            k: upgrade_target(v) if k == "_target_" and isinstance(v, str) else upgrade_targets(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [upgrade_targets(v) for v in node]
    return node


@dataclass
class LoadedRun:
    """A run rebuilt from its checkpoint alone: the stored config (targets upgraded, overrides applied),
    its data module (None when not asked for) and its task holding the checkpoint's weights, in eval
    mode."""

    path: Path
    checkpoint: dict[str, Any]
    config: DictConfig
    task: Any
    datamodule: Any = None


def stored_config(checkpoint: dict[str, Any], overrides: list[str] | None = None) -> DictConfig:
    """The run config a checkpoint holds, as today's classes name it, with `overrides` applied."""
    config = OmegaConf.create(upgrade_targets(checkpoint["ablab"]["config"]))
    if overrides:
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ConfigError(f"override {bad[0]!r} is not key=value (e.g. data.batch_size=512)")
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(overrides))
    return config


def _weights_problem(exc: RuntimeError) -> str:
    """The first line that says why a state dict does not fit, from torch's loading error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


def load_run(path: str | Path, overrides: list[str] | None = None, with_data: bool = True) -> LoadedRun:
    """The one way to rebuild a run from a checkpoint (`ablab-eval`, `ablab-explain`, notebooks): the
    checkpoint's config builds the data module, the model and the task exactly as the run did, and the
    task gets the weights and what it kept beside them (a scaler, class names). Bad input is one
    DataError or ConfigError line."""
    from hydra.utils import instantiate

    from ablab.errors import find_user_error

    path = Path(path)
    checkpoint = load_checkpoint(path)
    config = stored_config(checkpoint, overrides)
    with_overrides = f" with {' '.join(overrides)}" if overrides else ""
    try:
        datamodule = instantiate(config.data) if with_data else None
        task = instantiate(config.task, model=instantiate(config.model))
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is not None:
            raise user_error from exc
        lines = str(exc).strip().splitlines()
        raise ConfigError(
            f"{path}: cannot rebuild the run from its stored config{with_overrides} "
            f"({type(exc).__name__}: {lines[-1] if lines else ''})"
        ) from exc
    try:
        task.on_load_checkpoint(checkpoint)
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        raise DataError(
            f"{path}: its weights do not fit the model its config builds{with_overrides} "
            f"({_weights_problem(exc)}); drop overrides that change the model's shape, or pass the "
            "checkpoint of this run"
        ) from exc
    return LoadedRun(path=path, checkpoint=checkpoint, config=config, task=task.eval(), datamodule=datamodule)
