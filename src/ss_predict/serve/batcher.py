"""The model queue: requests wait in one bounded FIFO queue; one worker thread owns the model and predicts
them one at a time, each as `ss-predict` predicts its records as one file (length-sorted token-budget batches
of that request's records only). No request shares a batch with another: batching changes the last bits of
the numbers (a GRU over a batch of 2 does not sum as over a batch of 1), so an answer is byte for byte the
same whatever else the server is doing."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch


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
    """`predict(proteins) -> predictions` (in order) runs on one thread, one request per run, in arrival
    order; `submit` queues a request. A request whose client gave up before its run is skipped."""

    def __init__(self, predict: Callable[[list], list], max_queue: int):
        self._predict, self.max_queue = predict, max_queue
        self._jobs: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.runs = self.requests = self.residues = 0
        self.accepted = 0  # requests queued since the start (answered, running or waiting)
        self._rate = 0.0  # residues/s of recent runs (for Retry-After)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, args=(torch.get_num_threads(),), name="ss-serve-model",
                                        daemon=True)
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

    def _take(self) -> Job | None:
        """The oldest waiting request whose client has not given up (cancelled future); None when stopping
        and drained."""
        with self._cv:
            while True:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if not self._jobs:
                    return None
                job = self._jobs.popleft()
                if job.future.set_running_or_notify_cancel():
                    return job

    def _work(self, threads: int) -> None:
        # torch.set_num_threads acts on the thread that calls it: without this, this thread's first run
        # computes some kernels with OpenMP's default thread count and differs in the last bits from later runs
        torch.set_num_threads(threads)
        while (job := self._take()) is not None:
            t0 = time.perf_counter()
            try:
                preds = self._predict(job.proteins)
            except Exception as e:  # the request fails with it (logged by the app), the worker goes on
                job.future.set_exception(e)
                continue
            n = job.residues
            dt = max(time.perf_counter() - t0, 1e-6)
            self._rate = n / dt if not self._rate else 0.8 * self._rate + 0.2 * n / dt
            self.runs, self.requests, self.residues = self.runs + 1, self.requests + 1, self.residues + n
            job.future.set_result(preds)
