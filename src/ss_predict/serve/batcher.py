"""Micro-batching: requests wait in one bounded queue; one worker thread owns the model and runs every
request waiting at that moment together (up to a residue budget), so concurrent small requests share the
token-budget length batches that `ss-predict` would build for them as one file."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field


class QueueFull(Exception):
    """The queue holds `max_queue` requests already."""


@dataclass
class Job:
    proteins: list
    future: Future = field(default_factory=Future)

    @property
    def residues(self) -> int:
        return sum(len(p.sequence) for p in self.proteins)


class Batcher:
    """`predict(proteins) -> predictions` (in order) runs on one thread; `submit` queues a request.

    A run takes the oldest waiting request and then, in arrival order, every further one while the run stays
    within `run_residues` (so one huge request does not wait behind, nor hold up, a stream of small ones for
    long). Ids may clash between requests: predictions are split back by position, never by id."""

    def __init__(self, predict: Callable[[list], list], max_queue: int, run_residues: int):
        self._predict, self.max_queue, self.run_residues = predict, max_queue, run_residues
        self._jobs: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.runs = self.requests = self.residues = 0
        self.accepted = 0  # requests queued since the start (answered, running or waiting)
        self._rate = 0.0  # residues/s of recent runs (for Retry-After)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="ss-serve-model", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish every queued request, then end the worker."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()

    @property
    def depth(self) -> int:
        return len(self._jobs)

    @property
    def queued_residues(self) -> int:
        with self._cv:
            return sum(j.residues for j in self._jobs)

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained (1 to 60)."""
        wait = self.queued_residues / self._rate if self._rate else 1.0
        return max(1, min(60, round(wait)))

    def submit(self, proteins: list) -> Future:
        job = Job(proteins)
        with self._cv:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if len(self._jobs) >= self.max_queue:
                raise QueueFull(f"{len(self._jobs)} requests are waiting (the most this server queues)")
            self._jobs.append(job)
            self.accepted += 1
            self._cv.notify()
        return job.future

    def _take(self) -> list[Job]:
        """The next run: waiting requests in arrival order within the residue budget (at least one);
        requests whose client gave up (cancelled future) are dropped. Empty when stopping and drained."""
        with self._cv:
            while not self._jobs and not self._stopping:
                self._cv.wait()
            run, total = [], 0
            while self._jobs and (not run or total + self._jobs[0].residues <= self.run_residues):
                job = self._jobs.popleft()
                if job.future.set_running_or_notify_cancel():
                    run.append(job)
                    total += job.residues
            return run

    def _work(self) -> None:
        while True:
            run = self._take()
            if not run:
                if self._stopping and not self._jobs:
                    return
                continue
            proteins = [p for job in run for p in job.proteins]
            t0 = time.perf_counter()
            try:
                preds = self._predict(proteins)
            except Exception as e:  # the requests fail with it (logged by the app), the worker goes on
                for job in run:
                    job.future.set_exception(e)
                continue
            n = sum(len(p.sequence) for p in proteins)
            dt = max(time.perf_counter() - t0, 1e-6)
            self._rate = n / dt if not self._rate else 0.8 * self._rate + 0.2 * n / dt
            self.runs, self.requests, self.residues = self.runs + 1, self.requests + len(run), self.residues + n
            start = 0
            for job in run:
                job.future.set_result(preds[start:start + len(job.proteins)])
                start += len(job.proteins)
