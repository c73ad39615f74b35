"""`ablab-ensemble <study dir>`: soft and hard votes over the AMP heads' saved test predictions
(`ablab.families.amp.ensemble` says how)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ablab.analysis.ensembles import runs_differing_in
from ablab.errors import AblabError, DataError
from ablab.families.amp.ensemble import HEAD_GROUP, PREDICTIONS_FILE, evaluate, summary_table, write_csv


def main(argv: list[str] | None = None) -> int:
    """Console script `ablab-ensemble`."""
    parser = argparse.ArgumentParser(
        prog="ablab-ensemble",
        description="Soft and hard votes over the AMP heads' saved test predictions of a study.",
    )
    parser.add_argument("study_dir", type=Path, help="a sweep's folder, e.g. logs/amp_heads")
    parser.add_argument("--threshold", type=float, default=0.5, help="probability counted as an AMP vote")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for ensemble.csv/.md (default: study_dir)"
    )
    args = parser.parse_args(argv)
    try:
        if not args.study_dir.is_dir():
            raise DataError(f"{args.study_dir}: no such study folder")
        rows = evaluate(runs_differing_in(args.study_dir, HEAD_GROUP, PREDICTIONS_FILE), args.threshold)
        if not rows:
            raise DataError(
                f"{args.study_dir}: no two completed runs differing only in the head with "
                f"{PREDICTIONS_FILE}; run a sweep over model=amp/... first"
            )
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.study_dir
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "ensemble.csv", rows)
    table = summary_table(rows)
    (out / "ensemble.md").write_text(table)
    print(table, end="")
    print(f"wrote {out / 'ensemble.csv'} and {out / 'ensemble.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
