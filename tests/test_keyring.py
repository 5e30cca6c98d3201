"""Several keys at once (key rotation): secrets, PEM public keys and a JWKS document."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from hubbub.auth import Authenticator
from hubbub.errors import Unauthorized
from hubbub.keyring import Keyring, load_jwks
from hubbub.settings import Settings

OLD = "the old secret, longer than 32 bytes"
NEW = "the new secret, longer than 32 bytes"
OTHER = "a third secret, longer than 32 bytes"


def token(key: Any, algorithm: str = "HS256", kid: str | None = None, user: str = "alice") -> str:
    claims = {"sub": user, "exp": int(time.time()) + 600}
    headers = None if kid is None else {"kid": kid}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def user_of(authenticator: Authenticator, signed: str) -> str | None:
    return authenticator.authenticate(signed, "198.51.100.1").user


def refusal(authenticator: Authenticator, signed: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate(signed, "198.51.100.1")
    return caught.value.message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oct_jwk(secret: str, kid: str) -> dict[str, Any]:
    return {"kty": "oct", "k": b64(secret.encode()), "kid": kid, "alg": "HS256"}


def write_jwks(path: Path, *keys: dict[str, Any]) -> str:
    path.write_text(json.dumps({"keys": list(keys)}))
    return str(path)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_two_secrets_at_once() -> None:
    """Tokens signed with either secret verify; a third secret's are refused."""
    authenticator = Authenticator.from_settings(Settings(auth_secrets=(OLD, NEW)))
    assert user_of(authenticator, token(OLD, user="old")) == "old"
    assert user_of(authenticator, token(NEW, user="new")) == "new"
    assert "signature" in refusal(authenticator, token(OTHER))


def test_a_refusal_is_the_verified_key_s_not_the_first_key_s() -> None:
    """An expired token signed by the second key is 'expired', not a signature failure."""
    authenticator = Authenticator.from_settings(Settings(auth_secrets=(OLD, NEW)))
    expired = jwt.encode({"sub": "a", "exp": int(time.time()) - 60}, NEW, algorithm="HS256")
    assert refusal(authenticator, expired) == "token expired"


def test_secret_and_public_keys_together(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    """An HS256 secret, an RSA PEM and an EC JWK side by side (moving from one kind to
    another): each verifies its own tokens, and an HS256 token keyed with the public PEM
    is still refused."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "rsa.pem").write_bytes(pem)
    ec_jwk = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True) | {"kid": "ec-1"}
    authenticator = Authenticator.from_settings(
        Settings(
            auth_secret=OLD,
            auth_public_key=str(tmp_path / "rsa.pem"),
            auth_jwks=write_jwks(tmp_path / "keys.json", ec_jwk),
        )
    )
    assert user_of(authenticator, token(OLD, user="h")) == "h"
    assert user_of(authenticator, token(rsa_key, "RS256", user="r")) == "r"
    assert user_of(authenticator, token(ec_key, "ES256", kid="ec-1", user="e")) == "e"
    assert user_of(authenticator, token(ec_key, "ES256", user="e2")) == "e2"
    assert "algorithm" in refusal(authenticator, token(rsa_key, "PS256"))
    # Algorithm confusion: HS256 keyed with the public PEM (built by hand: PyJWT refuses).
    start = ".".join(
        b64(json.dumps(part).encode()) for part in ({"alg": "HS256"}, {"sub": "admin"})
    )
    signature = hmac.new(pem, start.encode(), hashlib.sha256).digest()
    assert "signature" in refusal(authenticator, f"{start}.{b64(signature)}")


def test_kid_picks_the_key(tmp_path: Path) -> None:
    """A kid some key has is checked with that key only; an unknown kid, or none, with
    every key of the token's algorithm."""
    path = write_jwks(tmp_path / "keys.json", oct_jwk(OLD, "2025"), oct_jwk(NEW, "2026"))
    authenticator = Authenticator.from_settings(Settings(auth_jwks=path))
    assert user_of(authenticator, token(NEW, kid="2026")) == "alice"
    assert user_of(authenticator, token(NEW, kid="unknown")) == "alice"
    assert user_of(authenticator, token(NEW)) == "alice"
    # Signed with the new key but naming the old one: only the old one is tried.
    assert "signature" in refusal(authenticator, token(NEW, kid="2025"))


def test_private_members_are_not_used(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """A JWK holding a private key (d, p, q...) verifies with its public half."""
    private = RSAAlgorithm.to_jwk(rsa_key, as_dict=True) | {"kid": "r"}
    keyring = Keyring(jwks=write_jwks(tmp_path / "keys.json", private))
    assert isinstance(keyring.keys[0].key, rsa.RSAPublicKey)
    authenticator = Authenticator(keyring)
    assert user_of(authenticator, token(rsa_key, "RS256", kid="r")) == "alice"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("not json", "is not JSON"),
        ('{"keys": []}', "holds no keys"),
        ('[{"kty": "oct"}]', "holds no keys"),
        ('{"keys": ["x"]}', r"keys\[0\] is not a JWK"),
        ('{"keys": [{"kty": "oct", "k": "c2hvcnQ", "kid": "s"}]}', "at least 32 bytes"),
        ('{"keys": [{"kty": "nope", "kid": "n"}]}', r"keys\[0\] \(kid n\): not a usable key"),
        ('{"keys": [{"kty": "oct", "k": "c2hvcnQ", "kid": 7}]}', "kid must be a string"),
    ],
)
def test_jwks_problems_are_one_line(tmp_path: Path, document: str, reason: str) -> None:
    """An unusable document names its file, the key, and what is wrong."""
    path = tmp_path / "keys.json"
    path.write_text(document)
    with pytest.raises(ValueError, match=reason) as caught:
        load_jwks(str(path))
    assert str(path) in str(caught.value)


def test_jwks_refuses_weak_and_unaccepted_keys(tmp_path: Path) -> None:
    """RSA under 2048 bits, EC off P-256 and other algorithms are refused; a secret is
    never quoted in the reason."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    for jwk, reason in [
        (RSAAlgorithm.to_jwk(small, as_dict=True), "at least 2048 bits"),
        (ECAlgorithm.to_jwk(p384, as_dict=True), "must be on the P-256 curve"),
        (oct_jwk(OLD, "h") | {"alg": "HS512"}, "not accepted"),
    ]:
        path = write_jwks(tmp_path / "keys.json", jwk)
        with pytest.raises(ValueError, match=reason) as caught:
            load_jwks(path)
        assert OLD not in str(caught.value)
    missing = str(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="cannot read the JWKS document"):
        load_jwks(missing)


def test_reload_reads_the_files_again_and_keeps_keys_on_error(tmp_path: Path) -> None:
    """reload() adds and removes keys as the file says; a broken file leaves them as they were."""
    path = tmp_path / "keys.json"
    write_jwks(path, oct_jwk(OLD, "old"))
    authenticator = Authenticator.from_settings(Settings(auth_jwks=str(path)))
    keyring = authenticator.keyring
    assert keyring is not None
    assert "signature" in refusal(authenticator, token(NEW, kid="new"))
    write_jwks(path, oct_jwk(OLD, "old"), oct_jwk(NEW, "new"))
    keyring.reload()
    assert keyring.describe() == "2 keys (kid old, new)"
    assert user_of(authenticator, token(NEW, kid="new")) == "alice"
    assert user_of(authenticator, token(OLD, kid="old")) == "alice"
    path.write_text("{broken")
    with pytest.raises(ValueError, match="is not JSON"):
        keyring.reload()
    assert user_of(authenticator, token(OLD, kid="old")) == "alice"
    write_jwks(path, oct_jwk(NEW, "new"))
    keyring.reload()
    assert "signature" in refusal(authenticator, token(OLD, kid="old"))
