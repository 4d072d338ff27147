"""A uvicorn app served from a background thread, for tests (no signal handlers); `stop()` runs the shutdown."""

from __future__ import annotations

import threading
import time


class ServerThread:
    """Starts `uvicorn.Server(uv_config)` in a daemon thread and waits until it listens on `port`."""

    def __init__(self, uv_config, port: int, what: str, start_timeout: float = 30, poll: float = 0.02):
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uv_config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, f"the {what} did not start"
            time.sleep(poll)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
