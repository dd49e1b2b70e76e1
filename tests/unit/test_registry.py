"""Where a registry's redirects take sdc, and what they carry (issue 22, item 16): credentials go
to the registry itself as it was reached, never over plain HTTP to a host that speaks HTTPS, and
no redirect leaves HTTPS. The connections are fakes: no packet is sent."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sdcontainer.images.registry import Credentials, Registry, RegistryError, redirect_target


class FakeResponse(io.BytesIO):
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(b"")
        self.status, self.reason, self.headers = status, "", headers

    def getheader(self, name: str, default: Any = None) -> Any:
        return self.headers.get(name, default)

    def isclosed(self) -> bool:
        return True


class FakeConnection:
    def __init__(self, sent: list[tuple[str, str, dict[str, str]]], key: tuple[str, str],
                 replies: dict[tuple[str, str, str], FakeResponse]) -> None:  # fmt: skip
        self.sent, self.key, self.replies = sent, key, replies
        self.path = ""

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.path = path
        self.sent.append((f"{self.key[0]}://{self.key[1]}{path}", method, dict(headers or {})))

    def getresponse(self) -> FakeResponse:
        return self.replies.get((*self.key, self.path)) or FakeResponse(200, {})

    def close(self) -> None:
        pass


def registry_with(replies: dict[tuple[str, str, str], FakeResponse]) -> tuple[Registry, list[Any]]:
    sent: list[Any] = []
    registry = Registry("r.example.com", credentials=Credentials("me", "secret"), _scheme="https", _basic=True)
    registry._connection = lambda scheme, netloc: FakeConnection(sent, (scheme, netloc), replies)  # type: ignore[method-assign]
    return registry, sent


def test_a_redirect_from_https_to_http_on_the_same_host_is_refused_before_anything_is_sent() -> None:
    registry, sent = registry_with({("https", "r.example.com", "/v2/x/blobs/b"): FakeResponse(
        307, {"Location": "http://r.example.com/v2/x/blobs/b"})})  # fmt: skip
    with pytest.raises(RegistryError, match="redirects from HTTPS"):
        registry.request("GET", "/v2/x/blobs/b", "x")
    assert [url for url, _, _ in sent] == ["https://r.example.com/v2/x/blobs/b"]


def test_credentials_go_to_the_registry_itself_and_not_where_it_redirects() -> None:
    registry, sent = registry_with({("https", "r.example.com", "/v2/x/blobs/b"): FakeResponse(
        302, {"Location": "https://cdn.example.net/b?sig=1"})})  # fmt: skip
    registry.request("GET", "/v2/x/blobs/b", "x")
    assert [(url, "Authorization" in headers) for url, _, headers in sent] == [
        ("https://r.example.com/v2/x/blobs/b", True), ("https://cdn.example.net/b?sig=1", False)]


@pytest.mark.parametrize("location", ["http://[::1", "file:///etc/passwd", "gopher://h/", "http://", "https://h:x/",
                                      "https://h:99999/", "a\0b"])  # fmt: skip
def test_a_location_that_is_no_http_url_is_one_error(location: str) -> None:
    with pytest.raises(RegistryError, match="no HTTP URL"):
        redirect_target("r.example.com", "https://r.example.com/v2/", location)


def test_relative_locations_stay_on_the_registry() -> None:
    assert redirect_target("r", "https://r:5000/v2/x/blobs/uploads/", "u1?s=2") == "https://r:5000/v2/x/blobs/uploads/u1?s=2"
    assert redirect_target("r", "http://127.0.0.1:5000/v2/", "/v2/y") == "http://127.0.0.1:5000/v2/y"
    assert redirect_target("r", "http://127.0.0.1:5000/v2/", "https://s/") == "https://s/"  # up to HTTPS: fine
