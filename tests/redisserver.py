"""A Redis server of the test's own, on a free port, that the test may kill and restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from redis import Redis

from tests.helpers import free_port



class RedisServer:
    """`redis-server` on 127.0.0.1:<free port>, its data in `folder` (only when asked to save)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @staticmethod
    def missing() -> str | None:
        return None if shutil.which("redis-server") else "redis-server is not installed"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> None:
        """Start the server; it loads what a previous `shutdown_saving` wrote, if anything."""
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.folder), "--dbfilename", "dump.rdb", "--logfile", str(self.folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except Exception:  # noqa: BLE001 - still starting
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: everything it held is gone (nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        (self.folder / "dump.rdb").unlink(missing_ok=True)

    def shutdown_saving(self) -> None:
        """Stop it the way an operator restarts Redis: its data is written and loaded at the next start."""
        with self.client() as client:
            try:
                client.shutdown(save=True)
            except Exception:  # noqa: BLE001 - the connection ends with the server
                pass
        if self.process is not None:
            self.process.wait(10)

    def cut_clients(self) -> int:
        """Close every client connection, as a network blip or a proxy restart would."""
        with self.client() as client:
            return client.client_kill_filter(_type="normal", skipme=True)

    def stop(self) -> None:
        self.kill()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
