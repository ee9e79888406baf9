"""`basis serve`: the app under uvicorn, started in the order that touches nothing of another
server's: listen on the port (ConfigError if taken), take the locks of the results folder and
the run index and recover (ServerBusyError if another server holds them), then serve.

uvicorn answers itself a request it cannot parse (malformed, or a request line and headers
over 16 KiB): `JsonErrorsProtocol` gives that 400 the API's JSON error shape.
"""

from __future__ import annotations

import json
import socket

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from basis_strategy.core.errors import ConfigError, OperationalError

BAD_REQUEST = json.dumps(
    {
        "error": {
            "code": "bad_request",
            "message": "not a valid HTTP request (malformed, or headers over 16 KiB)",
        }
    }
).encode("utf-8")


class JsonErrorsProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with its own 400 answer in the API's JSON error shape."""

    def send_400_response(self, msg: str) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BAD_REQUEST)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=BAD_REQUEST),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port; ConfigError naming --host or --port when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError("--host", f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError("--port", f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve `app` (created by `create_app`) on host:port until interrupted."""
    sock = listening_socket(host, port)
    service = app.state.basis.service
    try:
        service.open()
    except BaseException:
        sock.close()
        service.close()
        raise
    config = uvicorn.Config(
        app, http=JsonErrorsProtocol, ws="none", server_header=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn hands Ctrl-C back once it has stopped cleanly
        return
    finally:
        sock.close()
    if not server.started:
        raise OperationalError("the server did not start (see the log above)")
