"""The one place where alprfed errors become gRPC status codes.

Servicers raise AlprfedError subclasses and never call ``context.abort`` themselves. This
interceptor maps each error to its status; anything unexpected becomes INTERNAL with a request
id that is also in the server log, and the caller never sees a traceback. Unauthenticated
errors show the caller a fixed message: which check failed stays in the server log.

Request bytes that are not the method's message never reach a servicer: gRPC's own handling
would answer UNKNOWN or INTERNAL naming a Python exception class; here the caller gets
INVALID_ARGUMENT saying which message the bytes failed to be, and nothing else.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from alprfed.errors import AlprfedError, InvalidRequest, Unauthenticated
from alprfed.observability.context import current_request_id

log = logging.getLogger("alprfed.rpc")


def status_code(error: AlprfedError) -> grpc.StatusCode:
    code: grpc.StatusCode = getattr(grpc.StatusCode, error.status.value)
    return code


def _describe(method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, AlprfedError):
        if isinstance(exc, Unauthenticated):
            log.warning("%s refused: %s", method, exc.detail)
        else:
            # Not the message: it may quote the request (a plate, a warrant id), and log
            # lines outlive queries. The caller gets the message; the log, what kind it was.
            field = getattr(exc, "field", "")
            log.info(
                "%s refused (%s): %s%s",
                method,
                exc.status.value,
                type(exc).__name__,
                f" in field {field}" if field else "",
            )
        return status_code(exc), exc.public_message()
    # The call's own request id (alprfed.observability) when it has one, so the id the
    # caller is shown finds every line of the call, not only this one.
    request_id = current_request_id.get() or uuid.uuid4().hex[:12]
    log.exception("%s failed unexpectedly [request %s]", method, request_id)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"


class _Malformed:
    """What a request deserializer returns for bytes that do not parse (never raised inside
    gRPC, which would report the exception's class to the caller)."""

    __slots__ = ()


MALFORMED = _Malformed()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # any parse failure is the caller's malformed bytes
            return MALFORMED

    return parse


def _malformed(method: str) -> InvalidRequest:
    return InvalidRequest(
        f"the request bytes are not a valid {method.rsplit('/', 1)[-1]} request message"
    )


def _checked_stream(method: str, requests: Any) -> Any:
    for request in requests:
        if request is MALFORMED:
            raise _malformed(method)
        yield request


async def _checked_async_stream(method: str, requests: Any) -> Any:
    async for request in requests:
        if request is MALFORMED:
            raise _malformed(method)
        yield request


def _checked(method: str, request: Any) -> Any:
    """The request, or for a client stream the stream, refusing malformed messages."""
    if request is MALFORMED:
        raise _malformed(method)
    if hasattr(request, "__aiter__"):
        return _checked_async_stream(method, request)
    if hasattr(request, "__next__"):
        return _checked_stream(method, request)
    return request


def _wrap_sync(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(_checked(method, request), context)
        except Exception as exc:  # mapped, never leaked
            code, message = _describe(method, exc)
            context.abort(code, message)

    return wrapper


def _wrap_async(method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            result = behavior(_checked(method, request), context)
            # An aio server also runs plain functions; await only what is awaitable.
            return await result if inspect.isawaitable(result) else result
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # mapped, never leaked
            code, message = _describe(method, exc)
            await context.abort(code, message)

    return wrapper


def _rewrap(handler: grpc.RpcMethodHandler, method: str, asynchronous: bool) -> Any:
    wrap = _wrap_async if asynchronous else _wrap_sync
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(method, handler.unary_unary),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(method, handler.stream_unary),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler  # streaming responses are not used by alprfed services


class ErrorMappingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """For synchronous servers (the agency node)."""

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        return None if handler is None else _rewrap(handler, details.method, asynchronous=False)


class AsyncErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """For grpc.aio servers (the gateway)."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        return None if handler is None else _rewrap(handler, details.method, asynchronous=True)
