"""What the routes share: the node, the request's principal and client, JSON answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hubbub.auth import token_from
from hubbub.errors import UnsupportedMediaType
from hubbub.front.answers import Answer
from hubbub.front.head import Request
from hubbub.principal import Principal

if TYPE_CHECKING:
    from hubbub.node import Node

JSON = "application/json"
T = TypeVar("T")


def node_of(request: Request) -> Node:
    node: Node = request.app.node
    return node


def client_address_of(request: Request) -> str:
    """The address of the request's client (``protocol/forwarded.py``): what per-address
    caps, anonymous rate limits and logs count."""
    return request.address


def principal_of(request: Request) -> Principal:
    """Who sent the request: its token (``Authorization: Bearer`` or ``?token=``)
    verified by the node's access control; ``Unauthorized`` if it is refused."""
    principal = request.principal
    if principal is None:
        token = token_from(request.headers, request.query)
        principal = request.principal = node_of(request).principal(token, request.address)
    assert isinstance(principal, Principal)
    return principal


def json_response(body: bytes, status: int = 200, *, no_store: bool = False) -> Answer:
    return Answer(status, body, no_store=no_store)


def json_body(request: Request, what: str) -> bytes:
    """The body of a JSON request (``what`` names it in the refusal of another type)."""
    if request.content_type != JSON:
        raise UnsupportedMediaType(f"{what} with Content-Type: application/json")
    return request.body


def then(source: asyncio.Future[T], make: Callable[[T], Answer]) -> asyncio.Future[Answer]:
    """The answer ``make`` builds from ``source``'s result, as a future of its own (no
    task: a publish's answer is made in its commit's callback)."""
    answer: asyncio.Future[Answer] = source.get_loop().create_future()

    def done(finished: asyncio.Future[T]) -> None:
        if answer.done():
            return
        if finished.cancelled():
            answer.cancel()
        elif (failure := finished.exception()) is not None:
            answer.set_exception(failure)
        else:
            try:
                answer.set_result(make(finished.result()))
            except Exception as error:
                answer.set_exception(error)

    source.add_done_callback(done)
    return answer
