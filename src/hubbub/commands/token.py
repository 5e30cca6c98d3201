"""``hubbub token USER --secret S``: print a signed access token, for operators.

The token's ``sub`` is USER; ``--read`` and ``--write`` (comma-separated room
patterns) become its ``rooms`` claim, and without either it may read and write
every room. ``--mod PATTERNS`` makes it a moderator of those rooms (its ``mod``
claim) and ``--admin`` gives it the admin routes (``admin: true``). Bad arguments
are one plain line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

import jwt

from hubbub.errors import InvalidMessage
from hubbub.keyring import PrivateKey, load_private_key
from hubbub.protocol.messages import validate_user
from hubbub.protocol.tokens import check_secret, parse_patterns

PROG = "hubbub token"
USAGE = 2
SECRET_ENV = "HUBBUB_AUTH_SECRET"

TTL = re.compile(r"([1-9][0-9]{0,9})([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """A lifetime such as ``30s``, ``15m``, ``1h`` or ``7d``, in seconds."""
    found = TTL.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"--ttl {text!r} is not a lifetime like 30s, 15m, 1h or 7d")
    return int(found.group(1)) * SECONDS[found.group(2)]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="print a signed access token",
        description=(
            "Print a JWT for USER, signed with the server's HS256 secret (--secret, or "
            f"{SECRET_ENV}) or an RS256/ES256 private key (--key). Room patterns are a "
            "name, a prefix ending in '*', or '*' for every room."
        ),
    )
    parser.add_argument("user", metavar="USER", help="the user name (the token's sub)")
    signer = parser.add_mutually_exclusive_group()
    signer.add_argument("--secret", help=f"HS256 secret, at least 32 bytes [env {SECRET_ENV}]")
    signer.add_argument("--key", metavar="FILE", help="PEM private key (RSA or P-256 EC)")
    parser.add_argument(
        "--read", metavar="PATTERNS", help="rooms it may read, comma-separated [every room]"
    )
    parser.add_argument(
        "--write", metavar="PATTERNS", help="rooms it may write, comma-separated [every room]"
    )
    parser.add_argument(
        "--mod", metavar="PATTERNS", help="rooms it moderates, comma-separated (its mod claim)"
    )
    parser.add_argument(
        "--admin", action="store_true", help="may use the admin routes (its admin claim)"
    )
    parser.add_argument("--ttl", default="1h", help="how long it is valid: 30s, 15m, 1h, 7d")
    parser.add_argument(
        "--kid",
        help="key id written in the token's header: the server checks it with the key of "
        "this kid in its --auth-jwks document (for key rotation) [none]",
    )
    parser.set_defaults(run=main)


def _signer(args: argparse.Namespace) -> tuple[str | PrivateKey, str]:
    if args.key is not None:
        return load_private_key(args.key)
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV)
    if secret is None:
        raise ValueError(f"give --secret SECRET (or {SECRET_ENV}) or --key FILE")
    return check_secret(secret), "HS256"


def claims_from(args: argparse.Namespace, now: int) -> dict[str, Any]:
    """The token's claims; ValueError naming the bad argument."""
    try:
        user = validate_user(args.user)
    except InvalidMessage as exc:
        raise ValueError(f"USER: {exc.message}") from exc
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + parse_ttl(args.ttl)}
    if args.read is not None or args.write is not None:
        # Both lists always, so the token says plainly what it grants: a list
        # left out of a rooms claim grants nothing.
        rooms = {}
        for access in ("read", "write"):
            text = getattr(args, access)
            try:
                rooms[access] = list(parse_patterns("*" if text is None else text))
            except ValueError as exc:
                raise ValueError(f"--{access}: {exc}") from exc
        if not rooms["read"] and not rooms["write"]:
            raise ValueError(
                f"--read {args.read!r} --write {args.write!r} grants no room: give room "
                "patterns, or leave both out for every room"
            )
        claims["rooms"] = rooms
    if args.mod is not None:
        try:
            claims["mod"] = list(parse_patterns(args.mod))
        except ValueError as exc:
            raise ValueError(f"--mod: {exc}") from exc
    if args.admin:
        claims["admin"] = True
    return claims


def empty_grants(args: argparse.Namespace, claims: dict[str, Any]) -> list[str]:
    """One warning per access given as an empty list (the token then only reads or
    only writes: meant, or a variable that was empty)."""
    rooms = claims.get("rooms", {})
    gives = {"read": "only writes", "write": "only reads"}
    return [
        f"--{access} {getattr(args, access)!r} grants no room to {access}: this token "
        f"{gives[access]}"
        for access in ("read", "write")
        if getattr(args, access) is not None and not rooms.get(access)
    ]


def main(args: argparse.Namespace) -> int:
    try:
        claims = claims_from(args, int(time.time()))
        key, algorithm = _signer(args)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return USAGE
    for warning in empty_grants(args, claims):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    headers = None if args.kid is None else {"kid": args.kid}
    print(jwt.encode(claims, key, algorithm=algorithm, headers=headers))
    return 0
