"""The keys that verify access tokens: secrets, PEM public keys and a JWKS document.

Several keys are accepted at once so that a key can be replaced without logging anyone
out (docs/deployment.md, "Rotating keys"): the new key is added, new tokens are signed
with it, and the old one is removed once every token it signed has expired. Each key
fixes its one algorithm (HS256 for a secret, RS256 or ES256 for a public key), never the
token's header. A token whose header names a ``kid`` some key has is checked with that
key; any other token with each key of its algorithm.

The key files (``--auth-public-key`` PEMs and the ``--auth-jwks`` document) are read
again by :meth:`Keyring.reload` (``hubbub serve`` calls it on SIGHUP); if one is
unusable then, the keys in use stay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hubbub.protocol.tokens import MIN_SECRET_BYTES, check_secret

MIN_RSA_BITS = 2048  # NIST SP 800-131A
HS256, RS256, ES256 = "HS256", "RS256", "ES256"

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One key that verifies tokens: the key, its one algorithm, its ``kid`` (None for
    keys given by flag), and where it came from (for log lines; never the key)."""

    key: str | bytes | PublicKey
    algorithm: str
    kid: str | None
    source: str


def algorithm_for_key(key: PublicKey | PrivateKey) -> str:
    """The one JWS algorithm a key is used with; ValueError for keys hubbub refuses."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return RS256
    if isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise ValueError("EC keys must be on the P-256 curve (ES256)")


def _read_file(path: str, what: str) -> bytes:
    """The bytes of a key file; ValueError naming ``what`` could not be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from exc


def load_public_key(path: str) -> tuple[PublicKey, str]:
    """The PEM public key in ``path`` and its algorithm; ValueError saying what is wrong."""
    pem = _read_file(path, "public key")
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
    pem = _read_file(path, "private key")
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


def load_jwks(path: str) -> list[VerificationKey]:
    """The keys of the JWKS document (RFC 7517 section 5) in ``path``: ``oct`` keys of at
    least 32 bytes (HS256), RSA of 2048 bits or more (RS256), EC P-256 (ES256); private
    members, if present, are not used. ValueError naming the key that is unusable (never
    quoting it: an ``oct`` key is a secret)."""
    try:
        document = json.loads(_read_file(path, "JWKS document"))
    except ValueError as exc:
        if str(exc).startswith("cannot read"):
            raise
        raise ValueError(f'{path} is not JSON: a JWKS document is {{"keys": [...]}}') from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{path} holds no keys: a JWKS document is {{"keys": [JWK, ...]}}')
    return [_jwk_key(entry, f"{path} keys[{index}]") for index, entry in enumerate(entries)]


def _jwk_key(entry: object, where: str) -> VerificationKey:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not a JWK (a JSON object)")
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError(f"{where}: kid must be a string")
    if kid is not None:
        where = f"{where} (kid {kid})"
    try:
        jwk = jwt.PyJWK(entry)
    except jwt.PyJWTError:
        # PyJWT's message quotes the JWK, secret and all: not repeated.
        raise ValueError(f"{where}: not a usable key (check kty, crv, alg and k/n/e/x/y)") from None
    algorithm = jwk.algorithm_name
    key = jwk.key
    if algorithm == HS256 and isinstance(key, bytes):
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"{where}: an HS256 key must be at least {MIN_SECRET_BYTES} bytes")
        return VerificationKey(key, HS256, kid, where)
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{where}: alg {algorithm} is not accepted: HS256, RS256 or ES256")
    try:
        expected = algorithm_for_key(key)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if algorithm != expected:
        raise ValueError(f"{where}: alg {algorithm} is not accepted for this key: {expected}")
    return VerificationKey(key, algorithm, kid, where)


class Keyring:
    """Every key that verifies tokens; the files among them read again on :meth:`reload`."""

    __slots__ = ("_jwks", "_paths", "_secrets", "keys")

    def __init__(
        self,
        secrets: tuple[str, ...] = (),
        public_keys: tuple[str, ...] = (),
        jwks: str | None = None,
    ) -> None:
        """ValueError (one line) if a key is unusable or none is given."""
        self._secrets = secrets
        self._paths = public_keys
        self._jwks = jwks
        self.keys: tuple[VerificationKey, ...] = self._load()

    def _load(self) -> tuple[VerificationKey, ...]:
        keys = [
            VerificationKey(check_secret(secret), HS256, None, f"--auth-secret #{n}")
            for n, secret in enumerate(self._secrets, 1)
        ]
        for path in self._paths:
            key, algorithm = load_public_key(path)
            keys.append(VerificationKey(key, algorithm, None, path))
        if self._jwks is not None:
            keys.extend(load_jwks(self._jwks))
        if not keys:
            raise ValueError("no key verifies tokens")
        return tuple(keys)

    def reload(self) -> None:
        """Read the key files again; if one is unusable (ValueError), the keys stay."""
        self.keys = self._load()

    def candidates(self, algorithm: object, kid: object) -> list[VerificationKey]:
        """The keys to check a token with, from its (unverified) header's ``alg`` and
        ``kid``: those of its algorithm, only the one named by ``kid`` if some key has it."""
        same = [key for key in self.keys if key.algorithm == algorithm]
        if isinstance(kid, str):
            named = [key for key in same if key.kid == kid]
            if named:
                return named
        return same

    def describe(self) -> str:
        """The keys for a log line: how many, and their kids (never a key)."""
        kids = [key.kid for key in self.keys if key.kid is not None]
        named = f" (kid {', '.join(kids)})" if kids else ""
        return f"{len(self.keys)} key{'s' if len(self.keys) != 1 else ''}{named}"
