"""Verifying access tokens: from a request's token to a :class:`Principal`.

PyJWT checks the signature, ``exp``, ``nbf`` and ``iat``; ``protocol/tokens.py``
turns the verified claims into a principal. The accepted algorithm follows from
the configured key alone (HS256 for a secret, RS256 or ES256 for a public key),
never from the token's header: a token cannot pick ``none``, nor HS256 keyed with
the public key (algorithm confusion).

Refusals are ``401 unauthorized`` with a message that says what was wrong and
never contains the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hubbub.errors import Unauthorized
from hubbub.principal import ANONYMOUS, Principal
from hubbub.protocol.tokens import check_secret, principal_from_claims
from hubbub.settings import Settings

MIN_RSA_BITS = 2048  # NIST SP 800-131A
BEARER = "bearer"

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# Checked in order, so that a subclass is reported rather than its base class.
_REFUSALS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet (its nbf or iat is in the future)"),
    (jwt.InvalidSignatureError, "token signature does not verify with this server's key"),
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


def algorithm_for_key(key: PublicKey | PrivateKey) -> str:
    """The one JWS algorithm a key is used with; ValueError for keys hubbub refuses."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return "RS256"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("EC keys must be on the P-256 curve (ES256)")


def _read_pem(path: str, what: str) -> bytes:
    """The bytes of a key file; ValueError naming ``what`` could not be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from exc


def load_public_key(path: str) -> tuple[PublicKey, str]:
    """The PEM public key in ``path`` and its algorithm; ValueError saying what is wrong."""
    pem = _read_pem(path, "public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError(
            f"{path} holds no PEM public key (for the public half of a private key: "
            "openssl pkey -in PRIVATE.pem -pubout)"
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{path}: only RSA (RS256) and P-256 EC (ES256) keys are accepted")
    try:
        return key, algorithm_for_key(key)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def load_private_key(path: str) -> tuple[PrivateKey, str]:
    """The unencrypted PEM private key in ``path`` and its algorithm (for signing tokens)."""
    pem = _read_pem(path, "private key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:  # cryptography's way of saying "it needs a password"
        raise ValueError(f"{path} is encrypted: give an unencrypted PEM private key") from exc
    except ValueError as exc:
        raise ValueError(f"{path} holds no PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: only RSA (RS256) and P-256 EC (ES256) keys are accepted")
    try:
        return key, algorithm_for_key(key)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def token_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The request's token: ``Authorization: Bearer X`` first, else ``?token=X``; None if none.

    ``headers`` must look names up case-insensitively (aiohttp's ``request.headers``
    does). Another scheme (``Basic``, for a proxy in front) is not a token here.
    """
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == BEARER and credentials.strip():
        return credentials.strip()
    return query.get("token") or None


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Turns a request's token into a principal; with no key, access control is off."""

    key: str | PublicKey | None = None
    algorithm: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Read the key the settings name; ValueError (a one-line reason) if it is unusable."""
        if settings.auth_secret is not None:
            return cls(check_secret(settings.auth_secret), "HS256")
        if settings.auth_public_key is not None:
            return cls(*load_public_key(settings.auth_public_key))
        return cls()

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, ``exp``, ``nbf`` and ``iat`` hold."""
        assert self.key is not None and self.algorithm is not None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                # tokens.py checks sub, with the protocol's rule for user names.
                options={"verify_sub": False, "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            # ``from None``: PyJWT's own message may quote parts of the token.
            raise Unauthorized(_refusal(exc)) from None
        return claims

    def authenticate(self, token: str | None, address: str) -> Principal:
        """Who sent a request from ``address`` carrying ``token`` (None: no token)."""
        if not self.enabled:
            return replace(ANONYMOUS, address=address)
        if token is None:
            raise Unauthorized("a token is required: send Authorization: Bearer TOKEN or ?token=")
        return principal_from_claims(self.verify(token), address)


def www_authenticate(token_sent: bool) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750 section 3).

    A request without a token is only told the scheme; one whose token was refused
    is also told ``invalid_token``, so a client knows to get a fresh one.
    """
    challenge = 'Bearer realm="hubbub"'
    return challenge + ', error="invalid_token"' if token_sent else challenge
