"""A local HTTP server for download tests (importable helper, no network needed).

Serves a folder on 127.0.0.1 on a free port, in a background thread. It supports single-range
``Range: bytes=N-`` / ``bytes=N-M`` requests (206 + Content-Range), can cut the connection after a
given number of body bytes (the headers still announce the full Content-Length, like a real dropped
connection), can ignore Range headers (answering 200 with the whole file, as some servers do), and
can answer a chosen HTTP status for chosen paths. Every request is logged in ``server.requests``.

Usage in a test (the tests folder is on ``sys.path`` when pytest runs)::

    from http_server import serve_folder

    def test_something(tmp_path):
        (tmp_path / "www").mkdir(); (tmp_path / "www" / "a.bin").write_bytes(b"...")
        with serve_folder(tmp_path / "www", cut_after={"/a.bin": 10}) as server:
            url = server.url("a.bin")
            ...
            server.cut_after = {}          # let the next request through (to test resume)
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class RequestRecord:
    """One request the server received."""

    path: str
    range: str | None
    status: int


@dataclass
class LocalHTTPServer:
    """State of a running server; change the attributes between requests to change its behaviour."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    #: URL path (e.g. "/a.bin") -> number of body bytes sent before the connection is cut
    cut_after: dict[str, int] = field(default_factory=dict)
    #: URL path -> HTTP status to answer instead of the file (e.g. 500, 403)
    status_for: dict[str, int] = field(default_factory=dict)
    support_range: bool = True
    requests: list[RequestRecord] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, relative: str) -> str:
        """Full URL of a file below the served folder."""
        return f"{self.base_url}/{urllib.parse.quote(relative.lstrip('/'))}"


def _make_handler(state: LocalHTTPServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
            return

        def _send_status(self, status: int, range_header: str | None) -> None:
            state.requests.append(RequestRecord(self.path, range_header, status))
            body = f"status {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
            self._serve(send_body=False)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._serve(send_body=True)

        def _serve(self, send_body: bool) -> None:
            url_path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
            range_header = self.headers.get("Range")
            if url_path in state.status_for:
                return self._send_status(state.status_for[url_path], range_header)
            target = (state.root / url_path.lstrip("/")).resolve()
            if state.root.resolve() not in target.parents or not target.is_file():
                return self._send_status(404, range_header)
            data = target.read_bytes()
            total = len(data)
            start, end, status = 0, total - 1, 200
            if range_header and state.support_range:
                match = _RANGE.match(range_header.strip())
                if match is None:
                    return self._send_status(400, range_header)
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else total - 1
                if start >= total or end < start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    state.requests.append(RequestRecord(self.path, range_header, 416))
                    self.close_connection = True
                    return None
                end = min(end, total - 1)
                status = 206
            body = data[start : end + 1]
            state.requests.append(RequestRecord(self.path, range_header, status))
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes" if state.support_range else "none")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
            self.send_header("Connection", "close")
            self.end_headers()
            if not send_body:
                self.close_connection = True
                return None
            cut = state.cut_after.get(url_path)
            if cut is not None and cut < len(body):
                # announce the full length but send only part of it, then drop the connection
                self.wfile.write(body[:cut])
                self.wfile.flush()
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.wfile.write(body)
            self.close_connection = True
            return None

    return Handler


@contextlib.contextmanager
def serve_folder(
    root: str | os.PathLike[str],
    cut_after: dict[str, int] | None = None,
    status_for: dict[str, int] | None = None,
    support_range: bool = True,
) -> Iterator[LocalHTTPServer]:
    """Serve ``root`` over HTTP on 127.0.0.1 (free port) for the duration of the ``with`` block."""
    state = LocalHTTPServer(
        root=Path(root), cut_after=dict(cut_after or {}), status_for=dict(status_for or {}),
        support_range=support_range,
    )
    server = http.server.ThreadingHTTPServer((state.host, 0), _make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


__all__ = ["serve_folder", "LocalHTTPServer", "RequestRecord"]
