"""An ASGI app served on 127.0.0.1 with an ephemeral port in a background thread — for the sandboxes that have no
runner class of their own (DaData, Focus, Diadok, Kontur.Buhgalteria) when the demo or a rehearsal starts them."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class ServedApp:
    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started and time.time() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError(f"sandbox app did not start on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()
