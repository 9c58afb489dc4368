"""Killing a worker the way a crash or an OOM kill of its unit does: every process of its session."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def session_members(session_id: int) -> list[int]:
    """Processes whose session is `session_id` (RQ's work horse has a process group of its own, not a session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_session(session_id: int) -> None:
    """SIGKILL a process started with `start_new_session=True` and everything it started."""
    for pid in session_members(session_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
