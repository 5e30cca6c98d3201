"""The routes that are WebSockets and nothing else: ``GET /ws`` (many rooms on one
socket, ``front/multiplex.py``) and the conformance echo (``front/ws_echo.py``)."""

from __future__ import annotations

from hubbub.errors import InvalidParameter
from hubbub.front.multiplex import start_multiplex
from hubbub.front.ws_echo import start_ws_echo
from hubbub.http.head import Request, is_websocket_upgrade
from hubbub.http.streaming import Takeover
from hubbub.transports.websocket import check_upgrade_request

# The conformance echo's path (with --ws-echo only).
ECHO_PATH = "/ws-echo"


def multiplex(request: Request) -> Takeover:
    """``GET /ws``: anything but an upgrade (a plain ``GET``, a ``HEAD``) is ``400``."""
    if request.method != "GET" or not is_websocket_upgrade(request):
        raise InvalidParameter("GET /ws is a WebSocket: send Upgrade: websocket")
    check_upgrade_request(request)
    return Takeover(start_multiplex)


def echo(request: Request) -> Takeover:
    """``GET /ws-echo`` (``--ws-echo`` only): every message back, for Autobahn."""
    if request.method != "GET" or not is_websocket_upgrade(request):
        raise InvalidParameter("GET /ws-echo is a WebSocket: send Upgrade: websocket")
    check_upgrade_request(request)
    return Takeover(start_ws_echo)
