"""A webhook endpoint on loopback for the alert tests: what an alert destination received."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook endpoint on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.token = f"tok-{uuid.uuid4().hex}"
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == f"/hook/{receiver.token}":
                    receiver.messages.append(json.loads(body or b"{}"))
                self.send_response(receiver.status if self.path == f"/hook/{receiver.token}" else 404)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/{self.token}"

    def about(self, text: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if text in m.get("subject", "") + m.get("body", "")]
