"""Index pages fetched again to be compared: the same bytes as pip would read, or "not the same page"."""

from __future__ import annotations

import hashlib
import http.server
from collections.abc import Iterator

import pytest
from pypi_testing import serving

from horus_pipeline.lock import memo, pagefetch

PAGES = {"/simple/sized/": b"sized page\n" * 100, "/simple/chunked/": b"chunked page\n" * 1000}


class _Index(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked bodies
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:
        if self.path == "/simple/moved/":
            self.send_response(301)
            self.send_header("Location", "/simple/sized/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.path == "/simple/chunked/":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 4000):
                part = body[at : at + 4000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    _Index.connections = 0
    with serving(_Index) as url:
        yield url


def test_sized_and_chunked_pages_are_read_whole_over_one_connection(index: str) -> None:
    urls = [f"{index}/simple/sized/", f"{index}/simple/chunked/", f"{index}/simple/absent/"]
    digests = dict(memo.page_digests(urls))
    assert digests == {
        urls[0]: hashlib.sha256(PAGES["/simple/sized/"]).hexdigest(),
        urls[1]: hashlib.sha256(PAGES["/simple/chunked/"]).hexdigest(),
        urls[2]: None,  # a 404: pip got no page there either
    }
    assert _Index.connections == 1
    assert memo.pages_unchanged(digests)


def test_a_page_that_now_redirects_or_differs_is_not_the_same_page(index: str) -> None:
    sized = f"{index}/simple/sized/"
    assert not memo.pages_unchanged({f"{index}/simple/moved/": hashlib.sha256(PAGES["/simple/sized/"]).hexdigest()})
    assert not memo.pages_unchanged({sized: hashlib.sha256(b"what it was before").hexdigest()})
    assert not memo.pages_unchanged({sized: None})  # it was missing: pip would read a new page now
    with pytest.raises(pagefetch.FetchError):
        list(pagefetch.get_all("ftp://127.0.0.1/", ["/simple/sized/"]))
