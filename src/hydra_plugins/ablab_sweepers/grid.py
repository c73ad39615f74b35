"""`hydra/sweeper=ablab` (the default): Hydra's basic grid sweep, unchanged, unless the study sets
`sweep.seeds: auto`; then the seeds are chosen look by look by the stopping rule
(`ablab.search.adaptive`), each look one batch through whichever launcher is configured.
A subclass of BasicSweeper so that every field and behaviour of the grid sweep stays Hydra's own.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from ablab.errors import AblabError


class GridSweeper(BasicSweeper):
    """The grid of the sweep's overrides; with `sweep.seeds: auto`, its seeds chosen adaptively."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        from ablab.search.adaptive import check_settings, is_adaptive

        with _one_line():  # a bad sweep.* value stops the study before its header or any job
            self.adaptive = is_adaptive(config)
            if self.adaptive:
                check_settings(config)

    def sweep(self, arguments: list[str]) -> Any:
        if not self.adaptive:
            return super().sweep(arguments)
        from ablab.search.adaptive import run_adaptive

        assert self.config is not None and self.hydra_context is not None
        with _one_line():
            return run_adaptive(self.config, self.launcher, list(arguments), self.hydra_context.config_loader)


class _one_line:
    """An AblabError as one `error:` line and exit code 2, not Hydra's traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, AblabError):
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        return False
