"""What the routes share: the node, the request's principal and client, JSON answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.auth import token_from
from hubbub.errors import UnsupportedMediaType
from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.principal import Principal

if TYPE_CHECKING:
    from hubbub.node import Node

JSON = "application/json"


def node_of(request: Request) -> Node:
    node: Node = request.app.node
    return node


def principal_of(request: Request) -> Principal:
    """Who sent the request: its token (``Authorization: Bearer`` or ``?token=``)
    verified by the node's access control; ``Unauthorized`` if it is refused."""
    principal: Principal | None = request.principal
    if principal is None:
        token = token_from(request.headers, request.query)
        principal = request.principal = request.app.node.principal(token, request.address)
    return principal


def json_response(body: bytes, status: int = 200, *, no_store: bool = False) -> Answer:
    return Answer(status, body, no_store=no_store)


def json_body(request: Request, what: str) -> bytes:
    """The body of a JSON request (``what`` names it in the refusal of another type)."""
    if request.content_type != JSON:
        raise UnsupportedMediaType(f"{what} with Content-Type: application/json")
    return request.body
