"""Free heap pages go back to the OS between stages (glibc), and elsewhere the call is a harmless no-op;
the cyclic garbage collector is tuned once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from connector.memory import pin_mmap_threshold, release_free_memory


def _resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_holes_in_the_heap_are_given_back() -> None:
    if not release_free_memory():
        pytest.skip("this libc has no malloc_trim (musl)")
    # 64 KiB blocks stay below glibc's mmap threshold: they come from the heap, as a stage's buffers do.
    blocks = [bytearray(b"x" * 65_536) for _ in range(3_000)]  # ~190 MB, written so it is resident
    del blocks[::2]  # free every other block: holes in the middle of the heap, which free() keeps
    before = _resident_mb()
    assert release_free_memory()
    after = _resident_mb()
    assert before - after > 50, (before, after)  # ~94 MB of holes; most of it must leave the process
    del blocks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_a_freed_large_block_leaves_the_process_at_once() -> None:
    """With the mmap threshold pinned, a 1 MiB block freed after others were (which raises glibc's own
    threshold) is still its own mapping: freeing it lowers the resident size without a trim."""
    if not pin_mmap_threshold():
        pytest.skip("this libc has no mallopt (musl)")
    warm = [bytearray(4 * 2**20) for _ in range(4)]
    del warm  # freed mapped blocks: unpinned, glibc would now serve blocks up to 4 MiB from the heap
    blocks = [bytearray(b"x" * 2**20) for _ in range(150)]
    before = _resident_mb()
    del blocks[::2]
    after = _resident_mb()
    assert before - after > 50, (before, after)  # 75 MiB freed; mapped blocks leave at once
    del blocks


def test_startup_objects_frozen_once_and_the_young_generation_widened_only_while_scoring() -> None:
    """In a fresh interpreter (the settings are process-wide): what is alive at the first run's start is
    frozen once; the young generation is wide only inside the block, restored after it even on an error;
    cycles made later are still collected."""
    script = textwrap.dedent("""
        import gc, weakref
        from connector.garbage import YOUNG_GENERATION, freeze_startup_objects, wide_young_generation
        assert gc.get_freeze_count() == 0
        frozen = freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 1_000, frozen  # what importing left alive
        assert freeze_startup_objects() == frozen and gc.get_freeze_count() == frozen
        default = gc.get_threshold()
        try:
            with wide_young_generation():
                assert gc.get_threshold() == (YOUNG_GENERATION, *default[1:])
                raise KeyError("inside")
        except KeyError:
            pass
        assert gc.get_threshold() == default

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
        alive = weakref.ref(a)
        del a, b
        gc.collect()
        assert alive() is None
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
