"""The client and the commands over real TLS: a private CA trusted with --cacert (or
``Client(ssl=...)``), and a certificate failure said as such."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.client import Client, Message, UntrustedCertificate
from hubbub.server import Server
from tests.test_cli_send_tail import hubbub, texts
from tests.tls import Certificates, make_certificates, tls_front


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


@pytest.fixture
async def https(server: Server, certificates: Certificates) -> AsyncIterator[str]:
    """The server's URL through a TLS front whose certificate a private CA signed."""
    async with tls_front(certificates, server.port) as port:
        yield f"https://127.0.0.1:{port}"


async def test_send_tail_and_chat_with_cacert(
    server: Server, https: str, certificates: Certificates
) -> None:
    """--cacert (or HUBBUB_CACERT) trusts the private CA: send, tail, chat and search work
    over TLS."""
    ca = str(certificates.ca)
    code, out, err = await hubbub("send", "r", "one", "--name", "a", "--url", https, "--cacert", ca)
    assert (code, out, err) == (0, "", "")
    code, out, err = await hubbub(
        "tail", "r", "--since", "0", "--count", "1", "--url", https, env={"HUBBUB_CACERT": ca}
    )
    assert (code, err) == (0, "")
    assert out.endswith("a: one\n")
    code, _, err = await hubbub(
        "chat", "r", "--name", "b", "--url", https, "--cacert", ca, stdin=b"two\n"
    )
    assert code == 0, err
    assert await texts(server) == [("a", "one"), ("b", "two")]
    code, out, err = await hubbub("search", "r", "two", "--url", https, "--cacert", ca)
    assert (code, err) == (0, "") and "two" in out


async def test_untrusted_certificate_is_said_as_such(server: Server, https: str) -> None:
    """Without --cacert the private CA is unknown: status 3, a sentence about the
    certificate and what to give, never 'Operation not permitted'."""
    for command in (["send", "r", "x", "--name", "a"], ["tail", "r"]):
        code, _, err = await hubbub(*command, "--url", https, env={"HUBBUB_CACERT": ""})
        assert code == 3
        prog = f"hubbub {command[0]}"
        assert err == (
            f"{prog}: cannot reach the server: the certificate of 127.0.0.1 is not trusted: "
            "unable to get local issuer certificate; give --cacert FILE (or HUBBUB_CACERT) "
            "with the CA that signed it\n"
        )
    assert await texts(server) == []


async def test_insecure_checks_nothing(server: Server, https: str) -> None:
    """--insecure reaches a server whose certificate no CA vouches for."""
    code, _, err = await hubbub("send", "r", "x", "--name", "a", "--url", https, "--insecure")
    assert (code, err) == (0, "")
    assert await texts(server) == [("a", "x")]


async def test_bad_cacert_file(https: str, tmp_path: Path) -> None:
    """A --cacert that is missing or holds no certificate is a bad argument (status 2)."""
    missing = str(tmp_path / "missing.pem")
    code, _, err = await hubbub(
        "send", "r", "x", "--name", "a", "--url", https, "--cacert", missing
    )
    assert (code, err) == (2, f"hubbub send: --cacert {missing}: No such file or directory\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    code, _, err = await hubbub(
        "send", "r", "x", "--name", "a", "--url", https, "--cacert", str(junk)
    )
    assert (code, err) == (2, f"hubbub send: --cacert {junk}: no PEM certificate in it\n")


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll"])
async def test_library_with_ssl_context(
    https: str, certificates: Certificates, transport: str
) -> None:
    """Client(ssl=context) publishes and follows a room over TLS on every stream transport."""
    context = ssl.create_default_context(cafile=certificates.ca)
    seen: list[str] = []
    async with Client(https, ssl=context) as client, asyncio.timeout(20):
        await client.publish("r", "alice", "before")
        async with client.subscribe("r", since=0, transport=transport) as subscription:  # type: ignore[arg-type]
            async for event in subscription:
                if isinstance(event, Message):
                    seen.append(event.text)
                    if len(seen) == 2:
                        break
                    await client.publish("r", "alice", "after")
    assert seen == ["before", "after"]


async def test_library_untrusted_and_wrong_host(server: Server, https: str, tmp_path: Path) -> None:
    """Without the CA the library raises UntrustedCertificate; a certificate for another
    address is refused with the mismatch named."""
    async with Client(https) as client:
        with pytest.raises(UntrustedCertificate, match="unable to get local issuer certificate"):
            await client.publish("r", "alice", "x")
    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other", host="127.0.0.9")
    async with tls_front(other, server.port) as port:
        context = ssl.create_default_context(cafile=other.ca)
        async with Client(f"https://127.0.0.1:{port}", ssl=context) as client:
            with pytest.raises(UntrustedCertificate, match=r"mismatch.*127\.0\.0\.1"):
                await client.publish("r", "alice", "x")
