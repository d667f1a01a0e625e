"""Keep a long prediction run's memory flat: large blocks come from and go back to the operating system.

PyTorch's CPU tensors come and go in many sizes (every length batch has its own shape). glibc's allocator
raises its mmap threshold each time a large block is freed, so later activations are carved from the heap,
which fragments: a run's resident memory grew with the input (~100 KB per record: 0.9 GB after 4,000 records,
1.5 GB after 10,000, on one thread) although each window is freed. A fixed threshold of 4 MiB
(`mallopt(M_MMAP_THRESHOLD)`) gives every large tensor its own mapping, returned when it is freed: measured
flat at ~0.5 GB peak over 4,000 records (scripts/bench_scale.py measures it by input size), for about a fifth
more CPU time spent mapping fresh pages. `malloc_trim` after each window returns what the small objects freed.
Both are no-ops where the C library lacks them (macOS, musl)."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

M_MMAP_THRESHOLD = -3          # glibc's mallopt parameter number
MMAP_THRESHOLD = 4 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def bound_heap() -> bool:
    """Fix glibc's mmap threshold (once per process); True where it took effect."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_freed_memory() -> None:
    """After a window: collect its reference cycles, return the freed heap pages."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
