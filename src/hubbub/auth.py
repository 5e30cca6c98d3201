"""Verifying access tokens: from a request's token to a :class:`Principal`.

PyJWT checks the signature, ``exp``, ``nbf`` and ``iat``; ``protocol/tokens.py``
turns the verified claims into a principal. The keys are a :class:`Keyring`
(``keyring.py``): several may verify tokens at once, for rotation. The accepted
algorithm follows from each key alone (HS256 for a secret, RS256 or ES256 for a
public key), never from the token's header: a token cannot pick ``none``, nor HS256
keyed with the public key (algorithm confusion).

Refusals are ``401 unauthorized`` with a message that says what was wrong and
never contains the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from hubbub.errors import Unauthorized
from hubbub.keyring import Keyring, VerificationKey
from hubbub.principal import Principal
from hubbub.protocol.tokens import principal_from_claims
from hubbub.settings import Settings

BEARER = "bearer"
# tokens.py checks sub, with the protocol's rule for user names.
_DECODE_OPTIONS: Any = {"verify_sub": False, "enforce_minimum_key_length": True}

# Checked in order, so that a subclass is reported rather than its base class.
_REFUSALS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet (its nbf or iat is in the future)"),
    (jwt.InvalidSignatureError, "token signature does not verify with this server's keys"),
    (jwt.InvalidAlgorithmError, "token is signed with an algorithm this server does not accept"),
    (jwt.InvalidAudienceError, "token is meant for another audience (aud)"),
    (jwt.InvalidIssuedAtError, "token claim iat must be a number of seconds since 1970"),
    (jwt.DecodeError, "token is malformed: not a signed JWT with well-formed claims"),
]


def _refusal(error: jwt.PyJWTError) -> str:
    for kind, message in _REFUSALS:
        if isinstance(error, kind):
            return message
    return "token is not valid"


def token_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The request's token: ``Authorization: Bearer X`` first, else ``?token=X``; None if none.

    ``headers`` must look names up case-insensitively (aiohttp's ``request.headers``
    does). Another scheme (``Basic``, for a proxy in front) is not a token here.
    """
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == BEARER and credentials.strip():
        return credentials.strip()
    return query.get("token") or None


class Authenticator:
    """Turns a request's token into a principal; with no key, access control is off."""

    __slots__ = ("keyring",)

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = keyring

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Read the keys the settings name; ValueError (a one-line reason) if one is unusable."""
        secrets = settings.verifying_secrets
        public_keys = settings.verifying_public_keys
        if not (secrets or public_keys or settings.auth_jwks):
            return cls()
        return cls(Keyring(secrets, public_keys, settings.auth_jwks))

    @property
    def enabled(self) -> bool:
        return self.keyring is not None

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature (by one of the keys), ``exp``, ``nbf``
        and ``iat`` hold."""
        assert self.keyring is not None
        keys = self.keyring.keys
        try:
            if len(keys) == 1:  # the usual case: no header to read first
                return _decode(token, keys[0])
            header = jwt.get_unverified_header(token)
            candidates = self.keyring.candidates(header.get("alg"), header.get("kid"))
            if not candidates:
                raise jwt.InvalidAlgorithmError
            for key in candidates[:-1]:
                try:
                    return _decode(token, key)
                except jwt.InvalidSignatureError:
                    continue  # another key may have signed it
            return _decode(token, candidates[-1])
        except jwt.PyJWTError as exc:
            # ``from None``: PyJWT's own message may quote parts of the token.
            raise Unauthorized(_refusal(exc)) from None

    def authenticate(self, token: str | None, address: str) -> Principal:
        """Who sent a request from ``address`` carrying ``token`` (None: no token)."""
        if not self.enabled:
            # ANONYMOUS (every default) with its address; built directly, at a third of what
            # dataclasses.replace costs (once per request and per connect: issue 19).
            return Principal(address=address)
        if token is None:
            raise Unauthorized("a token is required: send Authorization: Bearer TOKEN or ?token=")
        return principal_from_claims(self.verify(token), address)


def _decode(token: str, key: VerificationKey) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[key.algorithm], options=_DECODE_OPTIONS
    )
    return claims


def www_authenticate(token_sent: bool) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750 section 3).

    A request without a token is only told the scheme; one whose token was refused
    is also told ``invalid_token``, so a client knows to get a fresh one.
    """
    challenge = 'Bearer realm="hubbub"'
    return challenge + ', error="invalid_token"' if token_sent else challenge
