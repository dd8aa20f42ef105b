"""How errors become HTTP responses: a status by error type and a one-line ``detail``.

A user's mistake is a 4xx whose detail says what to change; an unavailable store is a 503; only
a bug is a 500, and its detail names no file (the traceback goes to the server log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fusionrec.errors import (
    DimensionMismatchError,
    FilterError,
    FusionrecError,
    ModelDirError,
    NotFittedError,
    ReadOnlyStoreError,
    StoreError,
)

log = logging.getLogger("fusionrec.server")


class NotFoundError(FusionrecError):
    """A resource named in the URL (an item id) does not exist."""


def status_of(exc: FusionrecError) -> int:
    """The HTTP status for a fusionrec error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, (DimensionMismatchError, ReadOnlyStoreError)):
        return 409
    if isinstance(exc, FilterError):
        return 400
    if isinstance(exc, (NotFittedError, StoreError)):
        return 503
    if isinstance(exc, ModelDirError):
        return 500
    return 400


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into ``{"detail": "one line"}`` responses."""

    @app.exception_handler(FusionrecError)
    async def fusionrec_error(request: Request, exc: FusionrecError) -> JSONResponse:
        status = status_of(exc)
        if isinstance(exc, ReadOnlyStoreError):  # its message names the store's file
            detail = (
                "the store is open read-only: start fusionrec serve with --writable to add items"
            )
        elif status >= 500 and not isinstance(exc, NotFittedError):
            # store and model-dir messages can name files: log them, answer without them
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
            detail = f"{type(exc).__name__}: the vector store or model is unavailable (see log)"
        else:
            detail = one_line(str(exc))
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc)}, status_code=422)


def validation_detail(exc: RequestValidationError) -> str:
    """The first validation error as ``where: what`` (and how many more there were)."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    text = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg"))
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return one_line(text)
