"""What the CSV readers share: a hint when a file is not comma-separated, and UTF-8 text with or
without a byte-order mark (as spreadsheet programs save it)."""

from __future__ import annotations

from pathlib import Path

from ablab.errors import DataError

OTHER_DELIMITERS = (";", "\t", "|")


def delimiter_hint(columns: list[str]) -> str:
    """`; the file looks ';'-separated ...` when the header read as one column holds another
    delimiter, else an empty string: ablab reads comma-separated files."""
    if len(columns) != 1:
        return ""
    found = next((d for d in OTHER_DELIMITERS if d in columns[0]), None)
    if found is None:
        return ""
    shown = {"\t": "tab"}.get(found, repr(found))
    return f"; the file looks {shown}-separated, but CSV files here are comma-separated: save it with commas"


def read_text(path: Path, what: str) -> str:
    """A text file's contents as UTF-8 (a byte-order mark dropped), or a DataError naming the file."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{what}={path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from exc
