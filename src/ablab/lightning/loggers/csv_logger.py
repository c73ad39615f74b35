"""Per-epoch metrics in `<run>/csv/metrics.csv` that keep every attempt's rows (`logger=csv`).

Lightning's CSVLogger deletes metrics.csv whenever a new process starts writing it: a run resumed
from last.ckpt (a requeued SLURM job) would lose its earlier epochs, and under ddp_spawn, where
`trainer.test` runs in fresh worker processes, the test rows would replace all training rows. This
one appends, so rows from a resumed attempt follow the earlier ones (take the last row per epoch).
"""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Keep the rows already written (Lightning deletes them) and start from their columns."""
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])


class CSVLogger(LightningCSVLogger):
    """Lightning's CSVLogger, appending to an existing metrics.csv instead of replacing it."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
