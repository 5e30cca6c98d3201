"""The process's limits and how much of each it uses: files and memory.

Read from ``/proc`` and the cgroup files on Linux; elsewhere what ``resource`` tells
(the files in use are then unknown, and the limit is shown alone).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

PROC_FD = Path("/proc/self/fd")
PROC_STATM = Path("/proc/self/statm")
MEMINFO = Path("/proc/meminfo")
# cgroup v2: the container's or the service's memory cap ("max" when there is none).
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")


def open_files() -> int | None:
    """File descriptors open in this process (sockets included); None if unknown."""
    try:
        return len(os.listdir(PROC_FD)) - 1  # the listing's own descriptor
    except OSError:
        return None


def file_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def resident_bytes() -> int:
    """Memory the process holds now (RSS); the peak where ``/proc`` is missing."""
    try:
        pages = int(PROC_STATM.read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak * 1024  # kilobytes on Linux (bytes on macOS: an overestimate there)


def memory_limit() -> int | None:
    """The memory the process may use: its cgroup's cap, else its address-space limit,
    else the machine's memory; None if none of them can be read."""
    try:
        text = CGROUP_MEMORY_MAX.read_text().strip()
        if text != "max":
            return int(text)
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        return soft
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
