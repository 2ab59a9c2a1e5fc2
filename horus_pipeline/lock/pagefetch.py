"""Index pages fetched again to be compared (memo.py, uptodate.py): HTTP/1.1 GETs over one connection per host.

Not http.client: its import (the email package, for header parsing) is 8 ms, a sixth of a re-lock
that is up to date, and comparing a page needs a status and a body only. What is implemented is
what a page needs: a status line, headers, a body by Content-Length or chunked, keep-alive, TLS
with the CAs pip is told to trust. Anything else (a redirect, an encoding we did not ask for, a
malformed answer, a proxy or credentials to use) is an error, and an error only ever means
"not the same page": the caller then runs pip-compile, which fetches with pip's own stack. A
wrong parse cannot make two pages look the same: they are compared by sha256.

Only the standard library (and ssl imported where a server is https): this runs before pip is imported.
"""

from __future__ import annotations

import functools
import io
import os
import socket
import urllib.parse

TYPE_CHECKING = False  # not typing's own (memo.py says why)
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator

Connection = tuple[socket.socket, io.BufferedReader]

# pip's Accept header for index pages (pip/_internal/index/collector.py, _get_simple_response).
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
LINE_MAX = 65536  # a status or header line longer than this is not a server we talk to


class FetchError(ValueError):
    """The server's answer is not a page this module can compare: left to pip."""


def get_all(url_base: str, targets: list[str]) -> Iterator[tuple[int, bytes]]:
    """(status, body) of GET `target` (path and query) for each target, from the server of `url_base`."""
    parts = urllib.parse.urlsplit(url_base)
    proxy = os.environ.get(f"{parts.scheme}_proxy") or os.environ.get(f"{parts.scheme.upper()}_PROXY")
    if parts.scheme not in ("http", "https") or parts.username or proxy or not parts.hostname:
        raise FetchError(f"{url_base}: another scheme, credentials or a proxy: left to pip")
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    connection = None
    try:
        for target in targets:
            if connection is None:
                connection = _connect(parts.scheme, address)
            sock, reader = connection
            request = (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {ACCEPT}\r\n"
                "Accept-Encoding: identity\r\nCache-Control: max-age=0\r\n\r\n"
            )
            sock.sendall(request.encode("ascii"))
            status, body, keep_alive = _response(reader)
            yield status, body
            if not keep_alive:
                _close(connection)
                connection = None
    finally:
        if connection is not None:
            _close(connection)


def _connect(scheme: str, address: tuple[str, int]) -> Connection:
    sock = socket.create_connection(address, timeout=15)
    # As http.client does: the handshake's and the request's small writes, each sent at once instead
    # of held for the ACK of the one before (Nagle's algorithm against delayed ACKs: 40 ms a page).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if scheme == "https":
        sock = tls_context().wrap_socket(sock, server_hostname=address[0])
    return sock, sock.makefile("rb")


def _close(connection: Connection) -> None:
    connection[1].close()
    connection[0].close()


def _response(reader: io.BufferedReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection stays open) of the next response; interim 1xx ones skipped."""
    while True:
        version, _, rest = _line(reader).partition(b" ")
        if not version.startswith(b"HTTP/1."):
            raise FetchError(f"not an HTTP/1.x status line: {version[:40]!r}")
        status = int(rest[:3])
        headers = {}
        while line := _line(reader).rstrip(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if status >= 200:
            break
    if headers.get(b"content-encoding", b"identity") != b"identity":
        raise FetchError("an encoded body: not asked for")
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        chunks = []
        while size := int(_line(reader).split(b";")[0], 16):
            chunks.append(_exactly(reader, size))
            _line(reader)  # the chunk's CRLF
        while _line(reader).rstrip(b"\r\n"):
            pass  # trailers
        body = b"".join(chunks)
    elif b"content-length" in headers:
        body = _exactly(reader, int(headers[b"content-length"]))
    else:
        raise FetchError("a body without a length")
    return status, body, headers.get(b"connection") != b"close" and version == b"HTTP/1.1"


def _line(reader: io.BufferedReader) -> bytes:
    line = reader.readline(LINE_MAX)
    if not line.endswith(b"\n"):
        raise FetchError("the server closed the connection or sent an overlong line")
    return line


def _exactly(reader: io.BufferedReader, size: int) -> bytes:
    data = reader.read(size)
    if data is None or len(data) != size:
        raise FetchError("the server closed the connection inside a body")
    return data


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The context for https pages, trusting what pip is told to trust (PIP_CERT, else the system's CAs).

    The system's bundle is read from OpenSSL's hashed directory, which Debian's update-ca-certificates
    writes from the same certificates: a certificate is then loaded when a server's chain names it,
    instead of parsing the whole bundle first (20 ms, a third of a re-lock that is up to date).
    """
    import ssl

    cafile = os.environ.get("PIP_CERT") or None
    system = ssl.get_default_verify_paths()
    is_system = cafile is None or (system.cafile and os.path.realpath(cafile) == os.path.realpath(system.cafile))
    if is_system and system.capath and os.path.isdir(system.capath):
        return ssl.create_default_context(capath=system.capath)
    return ssl.create_default_context(cafile=cafile)
