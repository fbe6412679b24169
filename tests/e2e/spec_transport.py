"""An httpx transport for third-party clients that checks every REST response against the
vendored spec and records which operations were called."""

from __future__ import annotations

import httpx

from tests.api import spec

_PREFIX = "/trade-api/v2"


class SpecCheckingTransport(httpx.BaseTransport):
    """Wraps a transport (a real socket by default); each `/trade-api/v2` response is validated
    on the way back."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = httpx.HTTPTransport() if inner is None else inner
        self.called: set[tuple[str, str]] = set()
        self.statuses: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        path = request.url.path
        if path.startswith(_PREFIX):
            response.read()
            relative = path[len(_PREFIX) :]
            template = spec.template_for(relative)
            spec.validate_response(request.method, relative, response.status_code, response.content)
            self.called.add((request.method, template))
            self.statuses.append((request.method, template, response.status_code))
        return response

    def close(self) -> None:
        self._inner.close()
