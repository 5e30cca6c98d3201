"""Where a room lives in Redis: which shard, which keys, and the broker channel's payload.

The Redis store and the Redis broker must agree on all of this: the store's publish script sends a
room's messages on the channel of the shard that holds the room, and the broker listens there.

Every key of a room carries the room as a hash tag (``hubbub:{room}:...``) so that all of them
land in one Redis Cluster slot and one script may touch them atomically. Room names are
``[A-Za-z0-9_.-]``, so they never contain the ``{``/``}`` that would break the tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

try:
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # redis-py before 7 has no maintenance notifications, nor the problem
    MaintNotificationsConfig = None  # type: ignore[assignment,misc]

from hubbub.protocol.messages import MESSAGE, Message

# Bounded so that a stopped or unreachable Redis fails a publish in about a second (503),
# never hangs it. An operation that times out may still have been applied: the node answers
# 503 (not acknowledged), and a retry with the same client_id is answered with the original.
CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 2.0

ROOMS_INDEX = "hubbub:rooms"  # one per shard: a sorted set of names (score 0, ordered by name)

_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def fnv1a_64(data: bytes) -> int:
    """64-bit FNV-1a, the hash Centrifugo feeds to its jump hash (same shard for same name)."""
    value = _FNV64_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV64_PRIME) & _MASK64
    return value


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash (Lamping & Veach 2014): going from n to n+1 shards moves only
    about 1/(n+1) of the rooms, where ``hash % n`` would move almost all of them."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(room: str, shards: int) -> int:
    """The index (into the configured URL list) of the Redis that holds ``room``."""
    if shards == 1:
        return 0
    return jump_hash(fnv1a_64(room.encode()), shards)


def meta_key(room: str) -> str:
    """Hash: ``epoch`` and ``last_id``; its loss (flush, restore) starts a new epoch."""
    return f"hubbub:{{{room}}}:meta"


def log_key(room: str) -> str:
    """Stream: one entry per kept message, entry id ``0-ID``, one field ``m`` (JSON object)."""
    return f"hubbub:{{{room}}}:log"


def client_ids_key(room: str) -> str:
    """Sorted set: ``client_id`` scored by its message's id, trimmed with the log."""
    return f"hubbub:{{{room}}}:cids"


def corrections_key(room: str) -> str:
    """Sorted set: the id of each kept edit or delete, scored by the id it corrects."""
    return f"hubbub:{{{room}}}:fix"


def channel(room: str) -> str:
    """The pub/sub channel the append script publishes the room's new messages on."""
    return f"hubbub:{{{room}}}:ch"


def room_of_channel(name: bytes, suffix: bytes = b":ch") -> str | None:
    """The room a channel ``hubbub:{ROOM}<suffix>`` belongs to, or None for another name."""
    head, tail = b"hubbub:{", b"}" + suffix
    if name.startswith(head) and name.endswith(tail):
        return name[len(head) : -len(tail)].decode()
    return None


# Presence (presence/redis.py): per room, who is present on which node, until when.


def who_key(room: str) -> str:
    """Hash: ``node`` -> that node's JSON snapshot of the room's users and counts."""
    return f"hubbub:{{{room}}}:who"


def expiry_key(room: str) -> str:
    """Sorted set: each node scored by when its snapshot expires (ms, Redis clock)."""
    return f"hubbub:{{{room}}}:who:exp"


WHO_CHANNEL = b":who:ch"


def who_channel(room: str) -> str:
    """The pub/sub channel of a room's presence snapshots and typing notices."""
    return f"hubbub:{{{room}}}{WHO_CHANNEL.decode()}"


def message_body(
    user: str,
    text: str,
    ts: int,
    client_id: str | None,
    kind: str = MESSAGE,
    target: int | None = None,
) -> bytes:
    """What the log keeps of a message (the id and room are in the entry id and key), in
    ``Message.to_dict``'s order, so the script's payload matches ``encode_payload``."""
    body: dict[str, Any] = {"user": user, "text": text, "ts": ts}
    if client_id is not None:
        body["client_id"] = client_id
    if kind != MESSAGE:
        body["kind"] = kind
        body["target"] = target
    return orjson.dumps(body)


def _message(room: str, message_id: int, fields: dict[str, Any]) -> Message:
    return Message(
        message_id,
        room,
        fields["user"],
        fields["text"],
        fields["ts"],
        fields.get("client_id"),
        fields.get("kind", MESSAGE),
        fields.get("target"),
    )


def message_from_body(room: str, message_id: int, body: bytes) -> Message:
    return _message(room, message_id, orjson.loads(body))


def entry_id(raw: bytes | str) -> int:
    """The message id of a stream entry id ``0-ID``."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    return int(text.partition("-")[2])


def encode_payload(epoch: str, messages: Sequence[Message]) -> bytes:
    """The channel payload (the append script writes the same shape, byte for byte)."""
    return orjson.dumps({"epoch": epoch, "messages": [m.to_dict() for m in messages]})


def decode_payload(room: str, payload: bytes) -> tuple[str, list[Message]]:
    """``(epoch, messages)`` from a channel payload; the room comes from the channel name."""
    fields = orjson.loads(payload)
    messages = [_message(room, m["id"], m) for m in fields["messages"]]
    return fields["epoch"], messages


def connect(url: str, *, socket_timeout: float | None = SOCKET_TIMEOUT) -> Redis:
    """A client for one shard with bounded timeouts and no automatic retry.

    redis-py retries a failed command by default; a retried append script whose first attempt
    did commit would store a message twice, so hubbub decides about retries itself.
    """
    options: dict[str, Any] = {}
    if MaintNotificationsConfig is not None:
        # With maintenance notifications on ("auto" since redis-py 7), the pool skips its check
        # for a pooled connection the server has closed, so the first command after a Redis
        # restart fails on a dead socket; off, the pool reconnects it before use.
        options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
        **options,
    )
