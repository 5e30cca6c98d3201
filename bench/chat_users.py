"""The chat shape's load (issue 19): users on one WebSocket each, two rooms per user.

Each user holds one socket subscribed to a personal room ``p<i>`` and a group room
``g<i // group_size>``; one publisher sends to random rooms; users drop and come back
with their cursors. Two dialects: hubbub's ``GET /ws`` (a ``subscribe`` frame per room,
with ``since``/``epoch`` on a resume) and nginx + Nchan's multiplexed channel location
(``/chat/<p>/<g>``, ``ws+meta.nchan`` frames carrying the message id, resumed with
``?last_event_id=``), each the way its own documentation has a client do it.

Every message's text is ``"<room> <seq> <sent_ns> <padding>"``, so the check is the same
for both servers: per user and room, ``seq`` must be the previous one plus one.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from dataclasses import dataclass, field

import orjson

from bench import wsframe
from bench.conn import Connection

TEXT_SIZE = 64
NCHAN_PROTOCOL = "ws+meta.nchan"


def message_text(room: str, seq: int, sent_ns: int) -> str:
    head = f"{room} {seq} {sent_ns} "
    return head + "x" * max(0, TEXT_SIZE - len(head))


def parse_text(text: str) -> tuple[str, int, int]:
    """(room, seq, sent_ns) of a message text made by :func:`message_text`."""
    room, seq, sent_ns, _ = text.split(" ", 3)
    return room, int(seq), int(sent_ns)


def nchan_frame(payload: bytes) -> tuple[str, str]:
    """(message id, data) of a ``ws+meta.nchan`` frame: ``id: X\\n...headers\\n\\ndata``."""
    head, _, data = payload.partition(b"\n\n")
    first = head.split(b"\n", 1)[0]
    if not first.startswith(b"id: "):
        raise ValueError(f"not a ws+meta.nchan frame: {payload[:60]!r}")
    return first[4:].decode("ascii"), data.decode()


@dataclass
class Tally:
    """What every user of a run adds to: deliveries, faults, latencies."""

    deliveries: int = 0
    lost: int = 0
    doubled: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    measuring: bool = False  # latencies are kept only inside the measured window


class SeqCheck:
    """One user's view of its rooms: the last ``seq`` seen of each."""

    __slots__ = ("last",)

    def __init__(self, rooms: tuple[str, ...]) -> None:
        self.last = dict.fromkeys(rooms, 0)

    def see(self, room: str, seq: int, tally: Tally) -> bool:
        """Count one delivery; True if it is the next one of its room."""
        previous = self.last.get(room)
        if previous is None:
            tally.errors.append(f"a message of {room}, not subscribed")
            return False
        tally.deliveries += 1
        if seq <= previous:
            tally.doubled += 1
            return False
        if seq > previous + 1:
            tally.lost += seq - previous - 1
        self.last[room] = seq
        return True


class ChatUser:
    """One user: its rooms, what it has seen of them, and its cursors across sockets."""

    __slots__ = ("check", "cursors", "dialect", "index", "nchan_id", "rooms", "socket", "tally")

    def __init__(self, dialect: str, index: int, rooms: tuple[str, str], tally: Tally) -> None:
        self.dialect = dialect
        self.index = index
        self.rooms = rooms
        self.tally = tally
        self.check = SeqCheck(rooms)
        self.cursors: dict[str, tuple[int, str]] = {}  # hubbub: room -> (id, epoch)
        self.nchan_id = ""  # Nchan: the last message id (both channels in one)
        self.socket: UserSocket | None = None

    def path(self) -> str:
        if self.dialect == "nchan":
            query = f"?last_event_id={urllib.parse.quote(self.nchan_id)}" if self.nchan_id else ""
            return f"/chat/{self.rooms[0]}/{self.rooms[1]}{query}"
        return f"/ws?user=u{self.index}"

    def subscribe_frames(self) -> list[bytes]:
        """hubbub: a ``subscribe`` per room, with the cursor after a drop."""
        frames = []
        for room in self.rooms:
            frame: dict[str, object] = {"type": "subscribe", "room": room, "since": 0}
            if room in self.cursors:
                frame["since"], frame["epoch"] = self.cursors[room]
            frames.append(wsframe.encode(orjson.dumps(frame)))
        return frames

    def message(self, text: str, live_since_ns: int) -> None:
        room, seq, sent_ns = parse_text(text)
        tally = self.tally
        if self.check.see(room, seq, tally) and tally.measuring and sent_ns >= live_since_ns:
            tally.latencies_ns.append(time.monotonic_ns() - sent_ns)


class UserSocket(Connection):
    """One socket of a user, from the upgrade until it closes."""

    def __init__(self, user: ChatUser) -> None:
        self.user = user
        self.parser = wsframe.FrameParser()
        self.buffer = b""
        self.upgraded = False
        self.ready_rooms: set[str] = set()
        self.ready = asyncio.get_running_loop().create_future()
        self.live_since_ns = 2**63
        self.dropping = False  # closed by the generator (a churn), not by the server

    def opened(self) -> None:
        user = self.user
        extra = f"Sec-WebSocket-Protocol: {NCHAN_PROTOCOL}\r\n" if user.dialect == "nchan" else ""
        assert self.transport is not None
        self.transport.write(wsframe.handshake_request("127.0.0.1", user.path(), extra))

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buffer += data
            done, rest = wsframe.handshake_response(self.buffer)
            if not done:
                return
            self.upgraded, self.buffer = True, b""
            if self.user.dialect == "nchan":
                self._ready_now()  # Nchan subscribes every channel of the URL at the upgrade
            else:
                assert self.transport is not None
                self.transport.write(b"".join(self.user.subscribe_frames()))
            data = rest
        for frame in self.parser.feed(data):
            if frame.opcode == wsframe.OP_TEXT:
                self._text(frame.payload)
            elif frame.opcode == wsframe.OP_PING and self.transport is not None:
                self.transport.write(wsframe.encode(frame.payload, wsframe.OP_PONG))
            elif frame.opcode == wsframe.OP_CLOSE:
                self.user.tally.errors.append(
                    f"u{self.user.index} closed by the server: {frame.payload!r}"
                )

    def _ready_now(self) -> None:
        self.live_since_ns = time.monotonic_ns()
        if not self.ready.done():
            self.ready.set_result(None)

    def _text(self, payload: bytes) -> None:
        user = self.user
        if user.dialect == "nchan":
            user.nchan_id, text = nchan_frame(payload)
            user.message(text, self.live_since_ns)
            return
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "message":
            room = frame["room"]
            message = frame["message"]
            user.cursors[room] = (message["id"], user.cursors[room][1])
            user.message(message["text"], self.live_since_ns)
        elif kind == "ready":
            room = frame["room"]
            user.cursors[room] = (frame["since"], frame["epoch"])
            self.ready_rooms.add(room)
            if len(self.ready_rooms) == len(user.rooms):
                self._ready_now()
        elif kind in ("gap", "error"):
            user.tally.errors.append(f"u{user.index}: {payload[:200]!r}")

    def drop(self) -> None:
        self.dropping = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"u{self.user.index}: {exc or 'closed'}"))
        elif not self.dropping:
            self.user.tally.errors.append(f"u{self.user.index}: connection lost ({exc})")
