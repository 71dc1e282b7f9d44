"""Hand the heap's free pages back to the operating system between a sync's stages.

A large first sync frees most of what each stage made before the next one starts (the pull's pages of
records, the resolver's index, the scoring result's arrays), but glibc keeps freed heap memory resident:
once a large block has been freed, its dynamic mmap threshold rises to that size, so later arrays of that
size come from the heap too, and a hole in the middle of the heap is not returned by ``free``.  The
process then carries every stage's leftovers into the next, and its peak resident size is their sum.
``malloc_trim(0)`` releases the free pages wherever they are (``MADV_DONTNEED``); Dask's workers call it
for the same reason.  Elsewhere (macOS, musl) this does nothing: their allocators behave differently and
have no such call.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def _glibc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """glibc's ``name`` with its argument types, or None where there is no such libc or function."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL("libc.so.6"), name, None)
    except OSError:
        return None
    if function is not None:
        function.argtypes, function.restype = list(argtypes), ctypes.c_int
    return function


#: glibc's ``mallopt`` parameter number (malloc.h) and the threshold it is pinned at: its default.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


@cache
def pin_mmap_threshold() -> bool:
    """Keep blocks of 128 KiB and more (every array of a large run: a column of 100k floats is 800 KB) in
    their own mappings, returned to the OS the moment they are freed; True when the allocator took it.

    glibc raises its mmap threshold to the size of each mapped block that is freed, up to 32 MB, so after
    the scoring kernel's first temporaries every later array came from the heap and left a hole there when
    freed.  Setting the threshold explicitly turns that adjustment off (``mallopt(3)``); the cost is a
    system call and fresh pages per large array, small beside what is computed in it.
    """
    mallopt = _glibc("mallopt", ctypes.c_int, ctypes.c_int)
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; True when the allocator could (glibc on Linux)."""
    trim = _glibc("malloc_trim", ctypes.c_size_t)
    if trim is None:
        return False
    trim(0)
    return True
