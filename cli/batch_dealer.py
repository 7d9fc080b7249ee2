"""The parent side of `nguvu token batch`: deal rows to worker processes by meter, gather their output.

Every row of a meter goes to the same worker (chosen from the meter number), in file order, and the
parent records which worker got each row. A file of few meters is dealt by chunks instead, in turn,
with TIDs reserved in file order (cli/batch_tids.py), so that one meter's rows keep every worker busy. Answers come back per worker in the order the jobs were
sent, so the output lines can be joined back into input order as soon as every earlier row is
answered: the output is built while the workers still work, a block at a time.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import queue
from array import array
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cli.batch_tids import TidReserver
from cli.batch_worker import Done, Job, split_fields, work

JOB_ROWS = 16_384  # rows per job: enough for the bit-sliced EA07 to run at full speed (ea07_batch.CHUNK)
QUEUED_JOBS = 4  # jobs waiting per worker: bounds the parent's memory when it reads faster than they issue
# Below this many meters per worker in the first block, rows are dealt by chunks (one meter's rows would
# otherwise keep one worker busy while the others wait); at or above it, by meter.
SPLIT_BELOW_METERS_PER_WORKER = 8


def meter_share(number: str, workers: int) -> int:
    """The worker of a meter number, the same for its MeterPAN and its DRN (with or without spaces): the
    hash of the 8 serial digits, which both carry just before their last check digit(s). Python salts
    str hashes per process, so the deal changes from run to run; the output does not."""
    digits = number.strip().replace(" ", "")
    return hash(digits[-10:-2] if len(digits) == 18 else digits[-9:-1]) % workers


def few_meters(columns: dict[str, int], lines: list[str], workers: int) -> bool:
    """Whether these rows (the first block of the file, header excluded) hold too few meters to keep
    `workers` busy when dealt by meter. Counts distinct meter numbers as written (PAN and DRN of one
    meter count twice: that only errs towards dealing by meter)."""
    main, other = ([columns[c] for c in ("pan", "drn") if c in columns] * 2)[:2]
    limit = SPLIT_BELOW_METERS_PER_WORKER * workers
    seen: set[str] = set()
    for text in lines:
        row = split_fields(text)
        number = row[main].strip() if main < len(row) else ""
        if not number and other < len(row):
            number = row[other].strip()
        if number:
            seen.add(number)
            if len(seen) >= limit:
                return False
    return workers > 1


class Dealer:
    """Deals rows to the workers' queues, and joins their output lines back into input order."""

    def __init__(
        self, columns: dict[str, int], workers: int, key: bytes, default_at: datetime, *, split: bool = False
    ) -> None:
        self.key_columns = [columns[c] for c in ("pan", "drn") if c in columns]
        # With `split`, rows go to the workers a chunk at a time, in turn, and TIDs are reserved here.
        self.reserver = TidReserver(columns, default_at) if split else None
        self.turn = 0  # the worker whose chunk is filling (split only)
        # Only the fields up to the meter's (and those the reserver reads) are split out here.
        self.splits = max(max(self.key_columns) + 1, self.reserver.needed if self.reserver else 0)
        self.workers = workers
        self.order = array("H")  # the worker of each row, in input order
        self.pending: list[Job] = [([], [], {}) for _ in range(workers)]
        self.pending_start = [0] * workers  # where in `order` each pending job starts
        self.starts: list[deque[int]] = [deque() for _ in range(workers)]  # same, jobs sent, not answered
        self.outputs: list[deque[str]] = [deque() for _ in range(workers)]  # answered, not yet joined
        self.joined = 0  # rows of `order` whose output lines are in `text`
        self.text: list[str] = []  # the output lines in input order, in blocks ending with a newline
        self.sent = self.received = self.refused = 0
        self.finished = False
        context = multiprocessing.get_context("fork")
        self.done: multiprocessing.queues.Queue[Done] = context.Queue()
        self.jobs: list[multiprocessing.queues.Queue[Job | None]] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        try:
            for index in range(workers):
                self.jobs.append(context.Queue(QUEUED_JOBS))
                process = context.Process(
                    target=work, args=(index, key, columns, default_at, self.jobs[-1], self.done), daemon=True
                )
                self.processes.append(process)
                process.start()
        except BaseException:
            self.stop()
            raise

    def deal(self, lines: list[str], first: int, advance: Callable[[int], None]) -> int:
        """Queue the rows of `lines` (numbered from `first`); returns how many were not blank."""
        workers, splits, order, pending, reserver = (
            self.workers,
            self.splits,
            self.order,
            self.pending,
            self.reserver,
        )
        main, other = (self.key_columns * 2)[:2]  # the pan column (or drn), then the drn column (or again)
        count = 0
        for line, text in enumerate(lines, start=first):
            if not text.strip():
                continue
            row = text.split(",", splits) if '"' not in text else split_fields(text)
            number = row[main].strip() if main < len(row) else ""
            if not number and other < len(row):
                number = row[other].strip()
            worker = meter_share(number, workers) if reserver is None else self.turn
            job = pending[worker]
            if not job[0]:
                self.pending_start[worker] = len(order)
            if reserver is not None and (reserved := reserver.reserve(number, row)) is not None:
                job[2].setdefault(*reserved)  # the TID to start the meter from, at its first row in the job
            order.append(worker)
            job[0].append(line)
            job[1].append(text)
            if len(job[0]) >= JOB_ROWS:
                self._send(worker, advance)
                self.turn = (worker + 1) % workers
            count += 1
        return count

    def finish(self, advance: Callable[[int], None]) -> list[str]:
        """Send what is left, wait for every answer; the output lines in input order, in blocks."""
        for worker in range(self.workers):
            if self.pending[worker][0]:
                self._send(worker, advance)
            self._put(worker, None, advance)
        while self.received < self.sent:
            self._gather(advance, block=True)
        self.finished = True
        return self.text

    def stop(self) -> None:
        """Release the workers and the queues: after `finish` the workers are leaving by themselves;
        otherwise (an error, Ctrl-C) they are stopped, and what is still queued for them is dropped."""
        for process in self.processes:
            if process.pid is None:
                continue  # never started
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
        job, self.pending[worker] = self.pending[worker], ([], [], {})
        self.starts[worker].append(self.pending_start[worker])
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
                break
            worker, out, refused, size = answer
            if isinstance(out, BaseException):
                raise out
            self.outputs[worker].extend(out)
            self.starts[worker].popleft()
            self.refused += refused
            self.received += 1
            advance(size)
            block = False
        self._join()

    def _join(self) -> None:
        """Move the output lines whose rows and every row before them are answered into `text`."""
        end = len(self.order)
        for worker in range(self.workers):
            if self.starts[worker]:
                end = min(end, self.starts[worker][0])
            elif self.pending[worker][0]:
                end = min(end, self.pending_start[worker])
        if end > self.joined:
            pops = [lines.popleft for lines in self.outputs]
            self.text.append("\n".join([pops[worker]() for worker in self.order[self.joined : end]]) + "\n")
            self.joined = end

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
