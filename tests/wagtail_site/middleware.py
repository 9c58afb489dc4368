"""What a test sees of the served site and can do to it: the request log,
and API listings that fail from a given offset on."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

Handler = Callable[[HttpRequest], HttpResponse]

LISTINGS = ("/api/v2/pages/", "/api/v2/images/", "/api/v2/documents/")


class Controls:
    """Shared between the server threads and the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self.break_api_from: int | None = None  # offset from which listings answer 500
        self.validators = True  # False: the site ignores conditional requests, as many do

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()


controls = Controls()


def log_requests(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        controls.record(request.method or "GET", request.get_full_path())
        return get_response(request)

    return middleware


def ignore_conditional_requests(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        if controls.validators:
            return get_response(request)
        request.META.pop("HTTP_IF_NONE_MATCH", None)
        request.META.pop("HTTP_IF_MODIFIED_SINCE", None)
        response = get_response(request)
        for header in ("ETag", "Last-Modified"):
            if header in response:
                del response[header]
        return response

    return middleware


def break_api_listings(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        broken_from = controls.break_api_from
        if broken_from is not None and request.path in LISTINGS:
            try:
                offset = int(request.GET.get("offset", "0"))
            except ValueError:
                offset = 0
            if offset >= broken_from:
                return JsonResponse({"message": "Internal server error (broken on purpose by the test)"}, status=500)
        return get_response(request)

    return middleware
