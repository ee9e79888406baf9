"""Binance's three APIs on one local host, as the product's clients reach a venue through
`--venue-url binance=URL` (live/clients.py keeps every path and changes only the host).

Why: the Binance fakes are three servers (USDⓈ-M `/fapi`, spot `/api/v3` and the spot
wallet's `/sapi/v1/asset`, the wallet's `/sapi/v1/capital`), but a live session's USDⓈ-M,
spot and wallet clients are pointed at one URL. This server forwards each request, unchanged
(method, path, query, body, headers; the fakes check the signatures), to the fake that owns
its path, and returns that fake's answer as it is.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from tests.fakes.http_fake import FakeServer, LocalServer, QuietHandler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class OneHost(LocalServer):
    """Forwards by the longest matching path prefix to a fake's base URL."""

    def __init__(self, routes: dict[str, FakeServer]) -> None:
        super().__init__()
        self.routes = routes

    def target(self, path: str) -> FakeServer:
        prefix = max((p for p in self.routes if path.startswith(p)), key=len, default=None)
        if prefix is None:
            raise KeyError(path)
        return self.routes[prefix]


class _Forward(QuietHandler):
    fake: OneHost

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def do_DELETE(self) -> None:
        self._forward("DELETE")

    def do_PUT(self) -> None:
        self._forward("PUT")

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        try:
            target = urlsplit(self.fake.target(urlsplit(self.path).path).base_url)
        except KeyError:
            self.send_error(404, "no fake serves this path")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            connection.request(method, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            connection.close()


OneHost.handler = _Forward
