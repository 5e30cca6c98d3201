"""Renicing the suite's processes, as bench/method.md says: the server and the generator.

The machine is shared, so the suite raises the priority of what it measures: the server
(nice -10), the driver process with the probes and the publisher (-15, also wrk) and the
counting subscribers (-5). A nice value is per thread on Linux, so every thread of the
process is reniced; and with the kernel's autogroup scheduling (each session is one
group; the server and every generator process run in sessions of their own) a thread's
nice only ranks it within its group, so the group's nice is set as well. Raising a
priority needs root (CAP_SYS_NICE): without it nothing changes, and the note says so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Typed when types-psutil is installed, Any otherwise: both pass mypy --strict.
import psutil  # type: ignore[import-untyped, unused-ignore]

SERVER_NICE = -10
DRIVER_NICE = -15  # probes and publisher; wrk too
COUNTER_NICE = -5


def _autogroup(pid: int, nice: int) -> str:
    path = Path(f"/proc/{pid}/autogroup")
    if not path.exists():
        return ""  # no autogroup scheduling in this kernel: thread nice values are enough
    try:
        path.write_text(f"{nice}\n")
    except OSError as exc:
        return f"autogroup nice {nice} of pid {pid} not set ({exc.strerror or exc})"
    return ""


def renice(pid: int, nice: int) -> str:
    """Set ``nice`` on every thread of ``pid`` and on its autogroup; "" or why not."""
    try:
        threads = [t.id for t in psutil.Process(pid).threads()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        threads = [pid]
    notes = []
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except PermissionError:
            notes.append(f"nice {nice} of pid {pid} not permitted (needs root): left at default")
            break
        except ProcessLookupError:
            continue  # a thread that ended meanwhile
    if not notes and (why := _autogroup(pid, nice)):
        notes.append(why)
    return "; ".join(notes)


def niceness(pid: int) -> int | None:
    """The nice value of ``pid``'s main thread (None once it has gone)."""
    with contextlib.suppress(ProcessLookupError):
        return os.getpriority(os.PRIO_PROCESS, pid)
    return None
