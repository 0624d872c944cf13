"""Real HTTP requests to a loopback server, for what Flask's test client cannot send (chunked bodies)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Answer", "post_chunked"]


@dataclass(frozen=True)
class Answer:
    """What the server said."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_chunked(
    base_url: str, path: str, body: bytes, headers: Mapping[str, str] | None = None, chunk_size: int = 1024
) -> Answer:
    """POSTs ``body`` with ``Transfer-Encoding: chunked`` (no Content-Length) and reads the whole answer."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.request(
            "POST", path, body=_chunks(body, chunk_size), headers={**(headers or {})}, encode_chunked=True
        )
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
