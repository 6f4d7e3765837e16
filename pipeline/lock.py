"""One run (`run` or `retrain`) per home at a time, safe under cron.

An advisory lock (flock) on `<home>/run.lock`: the kernel releases it when
the holder exits or is killed, so a crashed run never blocks the next.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager

from pipeline.errors import LockBusy

LOCK_FILE = "run.lock"


@contextmanager
def home_lock(home: str, wait_seconds: float = 0.0, poll: float = 1.0):
    path = os.path.join(home, LOCK_FILE)
    os.makedirs(home, exist_ok=True)
    handle = open(path, "a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise LockBusy(
                        f"another run holds {path} ({holder}); "
                        + ("gave up waiting" if wait_seconds else "use --wait SECONDS to wait")
                    ) from None
                time.sleep(poll)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        handle.flush()
        yield path
    finally:
        handle.close()
