"""``hubbub token`` as a child process; its tokens are verified with the server's authenticator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hubbub.auth import Authenticator
from hubbub.commands.token import parse_ttl
from hubbub.settings import Settings

SECRET = "an operator's secret, 32 bytes or more"
ADDRESS = "203.0.113.9"
TIMEOUT = 20.0  # a child's start-up is slow on a loaded machine


def hubbub_token(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m hubbub token ARGS``; its status, stdout and stderr."""
    environment = {k: v for k, v in os.environ.items() if k != "HUBBUB_AUTH_SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", "token", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**environment, **(env or {})},
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def printed_token(*args: str, env: dict[str, str] | None = None) -> str:
    code, out, err = hubbub_token(*args, env=env)
    assert (code, err) == (0, "")
    assert out.endswith("\n") and out.count("\n") == 1
    return out.strip()


def test_hs256_token_verifies_with_the_server_secret() -> None:
    """The printed token carries USER, the room patterns and an exp --ttl from now."""
    before = time.time()
    token = printed_token(
        "alice",
        "--secret",
        SECRET,
        "--read",
        "team-*, lobby",
        "--write",
        "team-red",
        "--ttl",
        "15m",
    )
    principal = Authenticator.from_settings(Settings(auth_secret=SECRET)).authenticate(
        token, ADDRESS
    )
    assert (principal.user, principal.read, principal.write, principal.address) == (
        "alice",
        ("team-*", "lobby"),
        ("team-red",),
        ADDRESS,
    )
    assert principal.expires is not None
    assert before + 900 - 1 <= principal.expires <= time.time() + 900


def test_defaults_every_room_for_an_hour_with_the_secret_from_the_environment() -> None:
    """Without patterns the token grants every room; the secret may come from the env."""
    token = printed_token("bob", env={"HUBBUB_AUTH_SECRET": SECRET})
    principal = Authenticator.from_settings(Settings(auth_secret=SECRET)).authenticate(
        token, ADDRESS
    )
    assert (principal.user, principal.read, principal.write) == ("bob", None, None)
    assert principal.expires is not None
    assert 3600 - 60 <= principal.expires - time.time() <= 3600


def test_read_only_token() -> None:
    """--read alone leaves write at every room; an empty --write grants no writing (and
    says so)."""
    code, out, err = hubbub_token("carol", "--secret", SECRET, "--read", "*", "--write", "")
    assert code == 0 and "this token only reads" in err
    token = out.strip()
    principal = Authenticator.from_settings(Settings(auth_secret=SECRET)).authenticate(
        token, ADDRESS
    )
    assert (principal.read, principal.write) == (("*",), ())
    token = printed_token("carol", "--secret", SECRET, "--read", "lobby")
    principal = Authenticator.from_settings(Settings(auth_secret=SECRET)).authenticate(
        token, ADDRESS
    )
    assert (principal.read, principal.write) == (("lobby",), ("*",))


def test_moderator_and_admin_claims() -> None:
    """--mod gives the mod claim's patterns, --admin the admin claim; neither by default."""
    token = printed_token("mia", "--secret", SECRET, "--mod", "general, team-*", "--admin")
    authenticator = Authenticator.from_settings(Settings(auth_secret=SECRET))
    principal = authenticator.authenticate(token, ADDRESS)
    assert (principal.mod, principal.admin) == (("general", "team-*"), True)
    plain = authenticator.authenticate(printed_token("bob", "--secret", SECRET), ADDRESS)
    assert (plain.mod, plain.admin) == ((), False)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_private_key_tokens_verify_with_the_public_key(kind: str, tmp_path: Path) -> None:
    """--key signs with RS256 or ES256; the server's public key verifies it."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private = tmp_path / "private.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = printed_token("dave", "--key", str(private), "--write", "ops-*")
    authenticator = Authenticator.from_settings(Settings(auth_public_key=str(public)))
    assert authenticator.keyring is not None
    assert [k.algorithm for k in authenticator.keyring.keys] == [
        "RS256" if kind == "rsa" else "ES256"
    ]
    principal = authenticator.authenticate(token, ADDRESS)
    assert (principal.user, principal.read, principal.write) == ("dave", ("*",), ("ops-*",))


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["alice", "--secret", SECRET, "--ttl", "1y"], "--ttl '1y' is not a lifetime"),
        (["alice", "--secret", SECRET, "--ttl", "0h"], "is not a lifetime"),
        (["alice", "--secret", SECRET, "--read", "a*b"], "--read: a room pattern is"),
        (["alice", "--secret", SECRET, "--write", "lobby,.x"], "--write: a room pattern is"),
        (["alice", "--secret", SECRET, "--mod", "gen*eral"], "--mod: a room pattern is"),
        (["alice", "--secret", "short"], "at least 32 bytes"),
        (["alice"], "give --secret SECRET (or HUBBUB_AUTH_SECRET) or --key FILE"),
        (["  ", "--secret", SECRET], "USER: user must not be blank"),
        (["alice", "--key", "/nonexistent/key.pem"], "cannot read the private key"),
        (["alice", "--secret", SECRET, "--read", "", "--write", " "], "grants no room"),
    ],
)
def test_errors_are_one_plain_line_and_status_2(args: list[str], reason: str) -> None:
    """Bad arguments print one line naming the problem, no token, and exit with 2."""
    code, out, err = hubbub_token(*args)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("hubbub token: ")
    assert reason in err
    assert "Traceback" not in err


def test_ttl_units() -> None:
    """Lifetimes are a whole number and one of s, m, h, d."""
    assert [parse_ttl(t) for t in ("30s", "15m", "1h", "7d")] == [30, 900, 3600, 604800]
    for bad in ("", "1", "h", "1.5h", "-1h", "0s", "1w", "1 h", "1H", "99999999999d"):
        with pytest.raises(ValueError, match="is not a lifetime"):
            parse_ttl(bad)


def test_kid_is_written_in_the_header() -> None:
    """--kid names the key in the token's header; without it there is none."""
    with_kid = printed_token("alice", "--secret", SECRET, "--kid", "2026-01")
    assert jwt.get_unverified_header(with_kid)["kid"] == "2026-01"
    assert "kid" not in jwt.get_unverified_header(printed_token("alice", "--secret", SECRET))


def test_an_empty_read_list_is_said_and_the_token_only_writes() -> None:
    """--read '' makes a write-only token on purpose: printed, with a warning saying so."""
    code, out, err = hubbub_token("alice", "--secret", SECRET, "--read", "", "--write", "r")
    assert code == 0 and out.count(".") == 2
    assert (
        err == "hubbub token: warning: --read '' grants no room to read: this token only writes\n"
    )


def test_help_shows_each_default_once() -> None:
    code, out, _ = hubbub_token("--help", env={"COLUMNS": "200"})
    assert code == 0
    ttl = next(line for line in out.splitlines() if line.startswith("  --ttl"))
    assert ttl.count("(default: 1h)") == 1 and "[1h]" not in ttl, ttl
