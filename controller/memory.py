"""glibc malloc settings for the long-running controller process.

At 100k containers each cycle downloads four ~10 MB answers on worker threads and builds
100k-row arrays. glibc's defaults keep that memory resident after it is freed: every
thread gets a malloc arena of its own (up to 8 per core), whose freed blocks only that arena
reuses, and the threshold above which a block is mmap'd (and given back on free) rises to
the largest block freed so far, so buffers of up to 32 MB end up in heaps that are not
given back. Both settings here keep the cycle's peak resident size down (bench/RESULTS.md).
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: Two arenas: the main thread's and one the query threads share.
ARENA_MAX = 2
#: Fixed (no longer raised as blocks are freed): answers' bytes and the big arrays are
#: mmap'd and go back to the system when freed; smaller blocks stay in the heap.
MMAP_THRESHOLD = 1 << 20


def tune_malloc() -> bool:
    """Apply the settings; call before starting threads. False where libc is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # musl and others: nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if not done:
        log.warning("could not tune malloc (mallopt refused); memory use may be higher")
    return done
