"""`nguvu token batch IN.csv OUT.csv`: many credit tokens, across all cores.

The parent reads the file a block at a time and deals each row, by its meter number, to one worker
process (one per core): every row of a meter goes to the same worker, in file order, so the same-minute
rule holds across the whole batch (a meter's tokens get distinct, increasing TIDs) and a decoder key is
derived once per meter. A file of few meters (fewer than 8 per worker in its first 4,096 rows) is dealt
by chunks of rows instead, in turn, the parent reserving each row's TID in file order
(cli/batch_tids.py), so that a one-meter file keeps every core busy. Workers start issuing while the
parent is still reading. The parent remembers
which worker got each row and interleaves the workers' output lines back into input order. A bad row
gets its error in the output and does not stop the batch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer

from cli.apps import token_app
from cli.batch_dealer import Dealer, few_meters
from cli.batch_worker import split_fields
from cli.errors import UsageError, guarded
from cli.meter_options import VENDING_KEY_ENV, load_vending_key, parse_time
from tokencore import VendingKey

INPUT_COLUMNS = ("pan|drn", "sgc", "ti", "krn", "units")
OPTIONAL_COLUMNS = ("kt", "ken", "base_date", "dkga", "ea", "service", "at", "rnd", "last_tid")
# Said in words, not as "[kt]": Typer's help reads square brackets as markup and printed ", , , ,".
COLUMNS_TEXT = f"{', '.join(INPUT_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}"
OUTPUT_COLUMNS = ("line", "pan", "service", "units", "tid", "token", "error")
READ_SIZE = 1 << 20  # characters read at a time
SAMPLE_ROWS = 4096  # rows looked at to choose between dealing by meter and by chunk (cli/batch_dealer.py)


def read_blocks(handle: IO[str], path: Path) -> Iterator[list[str]]:
    """The lines of a text file (as str.splitlines() cuts the whole text), a block at a time. A block
    ends after a "\\n" (the file is read with universal newlines), so no line is cut in two."""
    carry = ""
    while data := _read(handle, path):
        data = carry + data
        cut = data.rfind("\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut].splitlines()
    if carry:
        yield carry.splitlines()


def _read(handle: IO[str], path: Path) -> str:
    try:
        return handle.read(READ_SIZE)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


@token_app.command("batch")
@guarded
def batch(
    input_csv: Annotated[Path, typer.Argument(help=f"CSV with a header: {COLUMNS_TEXT}")],
    output_csv: Annotated[Path, typer.Argument(help="CSV written with: " + ", ".join(OUTPUT_COLUMNS))],
    vending_key_file: Annotated[Path | None, typer.Option(help="File holding the vending key (hex).")] = None,
    vending_key: Annotated[str | None, typer.Option(help="Vending key in hex.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Issue time for rows without one (default now).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: every core).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Issue credit tokens for every row of IN.csv into OUT.csv, using every core."""
    key = _vending_key(vending_key_file, vending_key)
    if workers < 0:
        raise UsageError(f"--workers must be 0 (every core) or more, got {workers}")
    try:
        handle = input_csv.open()
    except OSError as exc:
        raise UsageError(f"cannot read {input_csv}: {exc.strerror}") from None
    with handle:
        count, failed, results = _issue(handle, input_csv, key, at, workers or os.cpu_count() or 1, progress)
    _write(output_csv, results)
    typer.echo(f"{count - failed} tokens issued, {failed} rows refused -> {output_csv}", err=True)
    if failed:
        raise typer.Exit(1)


def _issue(
    handle: IO[str], path: Path, key: VendingKey, at: str | None, processes: int, progress: bool
) -> tuple[int, int, list[str]]:
    """Deal the rows of the open CSV to the workers: (rows, rows refused, output lines in input order)."""
    blocks = read_blocks(handle, path)
    lines = next(blocks, [])
    columns = _columns(path, lines[0] if lines else "")
    rows = lines[1:]
    while len(rows) < SAMPLE_ROWS and (more := next(blocks, None)) is not None:
        rows += more  # enough rows to tell whether the file holds few meters
    workers = min(processes, 1024)
    split = few_meters(columns, rows[:SAMPLE_ROWS], workers)
    dealer = Dealer(columns, workers, key.reveal(), parse_time(at), split=split)
    try:
        with typer.progressbar(
            length=path.stat().st_size, label="issuing", file=sys.stderr, hidden=not progress
        ) as bar:
            count = dealer.deal(rows, 2, bar.update)
            first = len(rows) + 2
            for lines in blocks:
                count += dealer.deal(lines, first, bar.update)
                first += len(lines)
            results = dealer.finish(bar.update)
    finally:
        dealer.stop()
    return count, dealer.refused, results


def _columns(path: Path, header: str) -> dict[str, int]:
    """The header's column positions by name (lower case)."""
    if not header.strip():
        raise UsageError(f"{path} is empty: expected a header row ({COLUMNS_TEXT})")
    columns = {name.strip().lower(): i for i, name in enumerate(split_fields(header))}
    if not ({"pan", "drn"} & columns.keys()) or "units" not in columns:
        raise UsageError(f"{path}: the header needs pan (or drn) and units; columns: {COLUMNS_TEXT}")
    return columns


def _vending_key(path: Path | None, text: str | None) -> VendingKey:
    key = load_vending_key(path, text)
    if key is None:
        raise UsageError(
            f"give the vending key: --vending-key-file FILE, {VENDING_KEY_ENV} or --vending-key HEX"
        )
    return key


def _write(path: Path, text: list[str]) -> None:
    try:
        with path.open("w", newline="") as handle:
            handle.write(",".join(OUTPUT_COLUMNS) + "\n")
            handle.writelines(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
