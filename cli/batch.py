"""`nguvu token batch IN.csv OUT.csv`: many credit tokens, across all cores.

The parent reads the file a block at a time and deals each row, by its meter number, to one worker
process (one per core): every row of a meter goes to the same worker, in file order, so the same-minute
rule holds across the whole batch (a meter's tokens get distinct, increasing TIDs) and a decoder key is
derived once per meter. Workers start issuing while the parent is still reading. The parent remembers
which worker got each row and interleaves the workers' output lines back into input order. A bad row
gets its error in the output and does not stop the batch.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from cli.apps import token_app
from cli.batch_worker import Done, Job, split_fields, work
from cli.errors import UsageError, guarded
from cli.meter_options import VENDING_KEY_ENV, load_vending_key, parse_time
from tokencore import VendingKey

INPUT_COLUMNS = ("pan|drn", "sgc", "ti", "krn", "units", "[kt]", "[ken]", "[base_date]", "[dkga]", "[ea]",
                 "[service]", "[at]", "[rnd]", "[last_tid]")  # fmt: skip
OUTPUT_COLUMNS = ("line", "pan", "service", "units", "tid", "token", "error")
READ_SIZE = 1 << 20  # characters read at a time
JOB_ROWS = 16_384  # rows per job: enough for the bit-sliced EA07 to run at full speed (ea07_batch.CHUNK)
QUEUED_JOBS = 4  # jobs waiting per worker: bounds the parent's memory when it reads faster than they issue


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


def meter_share(number: str, workers: int) -> int:
    """The worker of a meter number, the same for its MeterPAN and its DRN (with or without spaces): the
    hash of the 8 serial digits, which both carry just before their last check digit(s)."""
    digits = number.strip().replace(" ", "")
    return hash(digits[-10:-2] if len(digits) == 18 else digits[-9:-1]) % workers


class _Dealer:
    """Deals rows to the workers' queues, and gathers their output lines (in order, per worker)."""

    def __init__(self, columns: dict[str, int], workers: int, key: bytes, default_at: datetime) -> None:
        self.key_columns = [columns[c] for c in ("pan", "drn") if c in columns]
        self.splits = max(self.key_columns) + 1  # only the fields up to the meter's are split out here
        self.workers = workers
        self.order = array("H")  # the worker of each row, in input order
        self.pending: list[Job] = [([], []) for _ in range(workers)]
        self.outputs: list[list[str]] = [[] for _ in range(workers)]
        self.sent = self.received = self.refused = 0
        self.finished = False
        context = multiprocessing.get_context("fork")
        self.done: multiprocessing.queues.Queue[Done] = context.Queue()
        self.jobs: list[multiprocessing.queues.Queue[Job | None]] = []
        self.processes = []
        for index in range(workers):
            jobs: multiprocessing.queues.Queue[Job | None] = context.Queue(QUEUED_JOBS)
            process = context.Process(
                target=work, args=(index, key, columns, default_at, jobs, self.done), daemon=True
            )
            process.start()
            self.jobs.append(jobs)
            self.processes.append(process)

    def deal(self, lines: list[str], first: int, advance: Callable[[int], None]) -> int:
        """Queue the rows of `lines` (numbered from `first`); returns how many were not blank."""
        workers, columns, splits, order = self.workers, self.key_columns, self.splits, self.order
        pending = self.pending
        count = 0
        for line, text in enumerate(lines, start=first):
            if not text.strip():
                continue
            row = text.split(",", splits) if '"' not in text else split_fields(text)
            number = ""
            for i in columns:
                if i < len(row) and (number := row[i].strip()):
                    break
            worker = meter_share(number, workers)
            order.append(worker)
            job = pending[worker]
            job[0].append(line)
            job[1].append(text)
            if len(job[0]) >= JOB_ROWS:
                self._send(worker, advance)
            count += 1
        return count

    def finish(self, advance: Callable[[int], None]) -> list[str]:
        """Send what is left, wait for every answer; the output lines in input order."""
        for worker in range(self.workers):
            if self.pending[worker][0]:
                self._send(worker, advance)
            self._put(worker, None, advance)
        while self.received < self.sent:
            self._gather(advance, block=True)
        self.finished = True
        pulls = [iter(lines).__next__ for lines in self.outputs]
        return [pulls[worker]() for worker in self.order]

    def stop(self) -> None:
        """Release the workers and the queues: after `finish` the workers are leaving by themselves;
        otherwise (an error, Ctrl-C) they are stopped, and what is still queued for them is dropped."""
        for process in self.processes:
            if not self.finished and process.is_alive():
                process.terminate()
            process.join()
        queues: list[multiprocessing.queues.Queue[Any]] = [*self.jobs, self.done]
        for channel in queues:
            if not self.finished:
                channel.cancel_join_thread()
            channel.close()
            channel.join_thread()

    def _send(self, worker: int, advance: Callable[[int], None]) -> None:
        job, self.pending[worker] = self.pending[worker], ([], [])
        self._put(worker, job, advance)
        self.sent += 1

    def _put(self, worker: int, job: Job | None, advance: Callable[[int], None]) -> None:
        while not _put(self.jobs[worker], job):
            self._gather(advance, block=False)

    def _gather(self, advance: Callable[[int], None], *, block: bool) -> None:
        """Take the answers that are ready (with `block`, wait for one); raise a worker's error."""
        while self.received < self.sent:
            answer = _get(self.done, block)
            if answer is None:
                self._check_alive()
                if block:
                    continue
                return
            worker, out, refused, size = answer
            if isinstance(out, BaseException):
                raise out
            self.outputs[worker].extend(out)
            self.refused += refused
            self.received += 1
            advance(size)
            block = False

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.exitcode not in (None, 0):  # killed: a worker's own errors come as answers
                raise RuntimeError(f"a batch worker stopped unexpectedly (exit code {process.exitcode})")


def _put(jobs: multiprocessing.queues.Queue[Job | None], job: Job | None) -> bool:
    """Queue a job unless the worker already has QUEUED_JOBS waiting (then wait a little and say so)."""
    try:
        jobs.put(job, timeout=0.1)
    except queue.Full:
        return False
    return True


def _get(done: multiprocessing.queues.Queue[Done], block: bool) -> Done | None:
    """The next answer of any worker, or None when there is none yet (waiting a little with `block`)."""
    try:
        return done.get(timeout=0.5) if block else done.get_nowait()
    except queue.Empty:
        return None


@token_app.command("batch")
@guarded
def batch(
    input_csv: Annotated[Path, typer.Argument(help="CSV with a header: " + ", ".join(INPUT_COLUMNS))],
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
    dealer = _Dealer(columns, min(processes, 1024), key.reveal(), parse_time(at))
    try:
        with typer.progressbar(
            length=path.stat().st_size, label="issuing", file=sys.stderr, hidden=not progress
        ) as bar:
            count = dealer.deal(lines[1:], 2, bar.update)
            first = len(lines) + 1
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
        raise UsageError(f"{path} is empty: expected a header row ({', '.join(INPUT_COLUMNS)})")
    columns = {name.strip().lower(): i for i, name in enumerate(split_fields(header))}
    if not ({"pan", "drn"} & columns.keys()) or "units" not in columns:
        raise UsageError(
            f"{path}: the header needs pan (or drn) and units; columns: {', '.join(INPUT_COLUMNS)}"
        )
    return columns


def _vending_key(path: Path | None, text: str | None) -> VendingKey:
    key = load_vending_key(path, text)
    if key is None:
        raise UsageError(
            f"give the vending key: --vending-key-file FILE, {VENDING_KEY_ENV} or --vending-key HEX"
        )
    return key


def _write(path: Path, results: list[str]) -> None:
    try:
        with path.open("w", newline="") as handle:
            handle.write(",".join(OUTPUT_COLUMNS) + "\n")
            if results:
                handle.write("\n".join(results) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
