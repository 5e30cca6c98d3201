"""Group commit as a client sees it: pipelined publishes of one connection share a
transaction, each still answered in order with its own id (and counted in /metrics)."""

from __future__ import annotations

import asyncio

import orjson

from hubbub.server import Server
from tests.conftest import StartServer

COUNT = 16


def request(room: str, text: str) -> bytes:
    body = orjson.dumps({"user": "ann", "text": text, "client_id": text})
    return (
        b"POST /rooms/%s/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (room.encode(), len(body), body)
    )


async def read_answers(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes]]:
    """``count`` answers with a Content-Length body: (status, body) each."""
    answers = []
    for _ in range(count):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answers.append((status, await reader.readexactly(length)))
    return answers


async def pipeline(server: Server, texts: list[str]) -> list[tuple[int, bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"".join(request("r", text) for text in texts))
        await writer.drain()
        async with asyncio.timeout(10):
            return await read_answers(reader, len(texts))
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_pipeline_of_publishes_is_one_commit(start_server: StartServer) -> None:
    """16 publishes written at once: 16 answers in order, ids 1-16, fewer commits than 16."""
    server = await start_server()
    texts = [f"m{i}" for i in range(COUNT)]
    answers = await pipeline(server, texts)
    assert [status for status, _ in answers] == [201] * COUNT
    stored = [orjson.loads(body) for _, body in answers]
    assert [(m["id"], m["text"]) for m in stored] == list(enumerate(texts, start=1))
    stats = server.node.stats
    assert stats.publish_count == COUNT
    assert stats.commits < COUNT  # through aiohttp it was one commit per request


async def test_a_repeat_inside_one_pipeline_answers_the_original(
    start_server: StartServer,
) -> None:
    """The same client_id twice in one pipeline: 201 then 200 with the same message."""
    server = await start_server()
    answers = await pipeline(server, ["a", "a", "b"])
    assert [status for status, _ in answers] == [201, 200, 201]
    assert answers[0][1] == answers[1][1]
    assert orjson.loads(answers[2][1])["id"] == 2


def _comparable(answers: list[tuple[int, bytes]]) -> list[tuple[int, dict[str, object]]]:
    """Status and message but the time and epoch, which differ between servers."""
    fields = ("id", "room", "user", "text", "client_id")
    return [
        (status, {k: v for k, v in orjson.loads(body).items() if k in fields})
        for status, body in answers
    ]
