"""Verifying real PyJWT tokens: HS256, RS256 and ES256 keys, and every way a token is refused."""

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
from multidict import CIMultiDict

from hubbub.auth import Authenticator, token_from, www_authenticate
from hubbub.cli import parse
from hubbub.commands.serve import settings_from
from hubbub.errors import Unauthorized
from hubbub.keyring import algorithm_for_key, load_private_key
from hubbub.principal import Principal
from hubbub.settings import Settings

SECRET = "correct horse battery staple, 32+"
ADDRESS = "198.51.100.4"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def verifier_for(key: PrivateKey, tmp_path: Path) -> Authenticator:
    """An authenticator built from settings naming the public half of ``key`` in a file."""
    path = write(tmp_path / "public.pem", public_pem(key))
    return Authenticator.from_settings(Settings(auth_public_key=path))


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token built by hand, for the shapes PyJWT refuses to produce on purpose."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def refusal(authenticator: Authenticator, token: str | None) -> str:
    """The 401 message for ``token``, checked not to contain the token or its signature."""
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate(token, ADDRESS)
    message = caught.value.message
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    if token:
        assert token not in message
        assert all(len(part) < 8 or part not in message for part in token.split("."))
    return message


HS256 = Authenticator.from_settings(Settings(auth_secret=SECRET))


def test_access_control_off_is_anonymous_with_the_address() -> None:
    """Without a key every request is anonymous, token or not, keyed by its address."""
    authenticator = Authenticator.from_settings(Settings())
    assert not authenticator.enabled
    principal = authenticator.authenticate(None, ADDRESS)
    assert principal == Principal(address=ADDRESS)
    assert principal.key == f"addr:{ADDRESS}"
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert authenticator.authenticate(token, ADDRESS) == Principal(address=ADDRESS)


def test_hs256_token_becomes_its_principal() -> None:
    """A valid HS256 token gives its sub, exp and rooms, with the request's address."""
    body = claims(rooms={"read": ["team-*"], "write": ["team-red"]})
    principal = HS256.authenticate(jwt.encode(body, SECRET, algorithm="HS256"), ADDRESS)
    assert principal == Principal(
        user="alice",
        read=("team-*",),
        write=("team-red",),
        expires=float(body["exp"]),
        address=ADDRESS,
    )


def test_no_token_is_unauthorized() -> None:
    """With access control on, a request without a token is told where to put one."""
    assert "Authorization: Bearer" in refusal(HS256, None)


def test_expired_token() -> None:
    """A token past its exp is refused as expired."""
    token = jwt.encode(claims(exp=int(time.time()) - 1), SECRET, algorithm="HS256")
    assert refusal(HS256, token) == "token expired"


def test_token_not_valid_yet() -> None:
    """A token whose nbf is in the future is refused as not valid yet."""
    token = jwt.encode(claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256")
    assert "not valid yet" in refusal(HS256, token)


def test_wrong_secret() -> None:
    """A token signed with another secret fails its signature check."""
    token = jwt.encode(claims(), "another secret of at least 32 bytes", algorithm="HS256")
    assert "signature" in refusal(HS256, token)


def test_tampered_claims() -> None:
    """Changing the claims of a signed token breaks its signature."""
    header, _, signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")
    payload = b64(json.dumps(claims(sub="admin")).encode())
    assert "signature" in refusal(HS256, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "ééé.é.é", "x" * 5000])
def test_malformed_token(token: str) -> None:
    """Anything that is not a JWS compact token is refused as malformed."""
    assert "malformed" in refusal(HS256, token)


def test_alg_none_is_refused() -> None:
    """An unsigned token (alg none) is never accepted, by any kind of key."""
    token = forged({"alg": "none", "typ": "JWT"}, claims(), hmac_key=None)
    assert "algorithm" in refusal(HS256, token)


def test_alg_none_is_refused_with_a_public_key(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """A public-key server refuses alg none too."""
    token = forged({"alg": "none", "typ": "JWT"}, claims(), hmac_key=None)
    assert "algorithm" in refusal(verifier_for(rsa_key, tmp_path), token)


def test_malformed_claims_are_unauthorized() -> None:
    """A well-signed token with a bad claim is refused with the claim's rule."""
    token = jwt.encode(claims(rooms={"read": "lobby"}), SECRET, algorithm="HS256")
    assert "rooms.read" in refusal(HS256, token)
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert "no sub claim" in refusal(HS256, token)
    token = jwt.encode(claims(sub=7), SECRET, algorithm="HS256")
    assert "sub must be a user name" in refusal(HS256, token)
    # PyJWT reads exp with int(): a string of digits passes it, the protocol's rule does not.
    token = jwt.encode(claims(exp=str(int(time.time()) + 60)), SECRET, algorithm="HS256")
    assert "exp must be a number" in refusal(HS256, token)


def test_token_with_an_audience_is_refused() -> None:
    """A token meant for some audience is not taken for this server."""
    token = jwt.encode(claims(aud="another-service"), SECRET, algorithm="HS256")
    assert "audience" in refusal(HS256, token)


def test_rs256_token(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """An RSA public key accepts RS256 tokens signed by its private half."""
    authenticator = verifier_for(rsa_key, tmp_path)
    assert authenticator.keyring is not None
    assert [k.algorithm for k in authenticator.keyring.keys] == ["RS256"]
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert authenticator.authenticate(token, ADDRESS).user == "alice"


def test_es256_token(ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    """A P-256 EC public key accepts ES256 tokens signed by its private half."""
    authenticator = verifier_for(ec_key, tmp_path)
    assert authenticator.keyring is not None
    assert [k.algorithm for k in authenticator.keyring.keys] == ["ES256"]
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert authenticator.authenticate(token, ADDRESS).user == "alice"


def test_public_key_refuses_another_key_s_tokens(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    """A token signed by another private key of the same kind fails its signature check."""
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), other_rsa, algorithm="RS256")
    assert "signature" in refusal(verifier_for(rsa_key, tmp_path), token)
    token = jwt.encode(claims(), other_ec, algorithm="ES256")
    assert "signature" in refusal(verifier_for(ec_key, tmp_path), token)


def test_key_kind_fixes_the_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    """The server's key, not the token's header, picks the one accepted algorithm."""
    es256_token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert "algorithm" in refusal(verifier_for(rsa_key, tmp_path), es256_token)
    rs256_token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert "algorithm" in refusal(verifier_for(ec_key, tmp_path), rs256_token)
    assert "algorithm" in refusal(HS256, rs256_token)
    ps256_token = jwt.encode(claims(), rsa_key, algorithm="PS256")
    assert "algorithm" in refusal(verifier_for(rsa_key, tmp_path), ps256_token)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_hs256_keyed_with_the_public_key_is_refused(
    kind: str,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tmp_path: Path,
) -> None:
    """Algorithm confusion: an HS256 token whose HMAC key is the public PEM is refused."""
    key: PrivateKey = rsa_key if kind == "rsa" else ec_key
    token = forged({"alg": "HS256", "typ": "JWT"}, claims(sub="admin"), public_pem(key))
    assert "algorithm" in refusal(verifier_for(key, tmp_path), token)


def test_public_key_file_problems(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """A missing, non-PEM, private, too small or unsupported key file is a clear ValueError."""

    def refuse(path: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            Authenticator.from_settings(Settings(auth_public_key=path))

    refuse(str(tmp_path / "missing.pem"), "cannot read the public key")
    refuse(write(tmp_path / "junk.pem", b"not a key\n"), "no PEM public key")
    refuse(write(tmp_path / "private.pem", private_pem(rsa_key)), "-pubout")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    refuse(write(tmp_path / "small.pem", public_pem(small)), "at least 2048 bits")
    p384 = ec.generate_private_key(ec.SECP384R1())
    refuse(write(tmp_path / "p384.pem", public_pem(p384)), "P-256")


def test_private_key_loading(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    """Signing keys load from PEM with their algorithm; encrypted or public ones are refused."""
    rsa_path = write(tmp_path / "rsa.pem", private_pem(rsa_key))
    assert load_private_key(rsa_path)[1] == "RS256"
    assert load_private_key(write(tmp_path / "ec.pem", private_pem(ec_key)))[1] == "ES256"
    encrypted = write(tmp_path / "locked.pem", private_pem(ec_key, password=b"pw"))
    with pytest.raises(ValueError, match="encrypted"):
        load_private_key(encrypted)
    with pytest.raises(ValueError, match="no PEM private key"):
        load_private_key(write(tmp_path / "public.pem", public_pem(ec_key)))
    with pytest.raises(ValueError, match="cannot read the private key"):
        load_private_key(str(tmp_path / "missing.pem"))


def test_algorithm_for_key(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    """Each key kind has exactly one algorithm, public or private half alike."""
    assert algorithm_for_key(rsa_key) == algorithm_for_key(rsa_key.public_key()) == "RS256"
    assert algorithm_for_key(ec_key) == algorithm_for_key(ec_key.public_key()) == "ES256"


def test_token_from_header_or_query() -> None:
    """Authorization: Bearer wins over ?token=; the scheme is case-insensitive."""
    query = {"token": "from-query"}
    bearer = CIMultiDict({"authorization": "Bearer from-header"})
    assert token_from(bearer, query) == "from-header"
    assert token_from(CIMultiDict({"Authorization": "bEaReR  spaced "}), {}) == "spaced"
    assert token_from(CIMultiDict(), query) == "from-query"
    assert token_from(CIMultiDict(), {}) is None


def test_token_from_ignores_other_schemes_and_empty_values() -> None:
    """Another scheme (a proxy's Basic) or an empty value is no token; the query still counts."""
    basic = CIMultiDict({"Authorization": "Basic dXNlcjpwYXNz"})
    assert token_from(basic, {"token": "from-query"}) == "from-query"
    assert token_from(basic, {}) is None
    assert token_from(CIMultiDict({"Authorization": "Bearer "}), {}) is None
    assert token_from(CIMultiDict({"Authorization": "Bearer"}), {"token": ""}) is None


def test_settings_refuse_short_secrets_and_empty_paths() -> None:
    """Every HS256 secret must have at least 32 bytes; key files must be paths."""
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(auth_secret="short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(auth_secrets=(SECRET, "short"))
    with pytest.raises(ValueError, match="file path"):
        Settings(auth_public_key="")
    with pytest.raises(ValueError, match="file path"):
        Settings(auth_jwks="")


def test_serve_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """--auth-secret and --auth-public-key reach the settings, also from HUBBUB_AUTH_*;
    each may be given more than once, and a flag replaces the environment's value."""
    settings = settings_from(parse(["serve", "--auth-secret", SECRET]))
    assert (settings.verifying_secrets, settings.verifying_public_keys) == ((SECRET,), ())
    monkeypatch.setenv("HUBBUB_AUTH_PUBLIC_KEY", "/etc/hubbub/public.pem")
    settings = settings_from(parse(["serve"]))
    assert (settings.verifying_secrets, settings.verifying_public_keys) == (
        (),
        ("/etc/hubbub/public.pem",),
    )
    monkeypatch.delenv("HUBBUB_AUTH_PUBLIC_KEY")
    monkeypatch.setenv("HUBBUB_AUTH_SECRET", SECRET)
    assert settings_from(parse(["serve"])).verifying_secrets == (SECRET,)
    other = "another secret that is long enough, 32+"
    args = parse(["serve", "--auth-secret", other, "--auth-secret", SECRET + "!"])
    assert settings_from(args).verifying_secrets == (other, SECRET + "!")
    monkeypatch.setenv("HUBBUB_AUTH_JWKS", "/etc/hubbub/keys.json")
    assert settings_from(parse(["serve"])).auth_jwks == "/etc/hubbub/keys.json"


def barrage() -> list[str]:
    """Hand-built tokens of every odd shape: headers, claims and signatures PyJWT must survive."""
    headers: list[object] = [
        {"alg": alg, "typ": "JWT"}
        for alg in ["HS256", "RS256", "ES256", "PS256", "none", "None", "", None, 1, ["HS256"]]
    ]
    headers += [
        {"alg": "HS256", "crit": ["b64"], "b64": False},
        {"alg": "ES256", "kid": {"x": 1}},
        {"alg": "RS256", "jku": "http://attacker.example/keys"},
        {"alg": "RS256", "jwk": {"kty": "oct", "k": b64(SECRET.encode())}},
        [],
        "HS256",
        None,
    ]
    payloads: list[bytes] = [
        json.dumps(claims()).encode(),
        b"{}",
        b"[]",
        b'"alice"',
        b"null",
        b"1e400",
        b"not json",
        b'{"sub": "alice", "exp": 1e400}',
        b'{"sub": "alice", "iat": "soon"}',
        b'{"sub": "alice", "nbf": []}',
    ]
    signatures = [b"", b"\x00", bytes(64), bytes(256), bytes(range(256)) * 4]
    tokens = []
    for header in headers:
        for payload in payloads:
            for signature in signatures:
                start = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
                tokens.append(f"{start}.{b64(signature)}")
    return tokens


def test_barrage_of_odd_tokens_is_only_ever_unauthorized(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    """No token shape makes verification fail with anything but 401 (never a 500)."""
    authenticators = [HS256, verifier_for(rsa_key, tmp_path), verifier_for(ec_key, tmp_path)]
    # Several keys at once: the header (alg, kid) is read before any key is picked.
    pem = write(tmp_path / "both.pem", public_pem(rsa_key))
    authenticators.append(
        Authenticator.from_settings(
            Settings(auth_secrets=(SECRET, SECRET + "2"), auth_public_key=pem)
        )
    )
    tokens = barrage()
    assert len(tokens) == 17 * 10 * 5
    for authenticator in authenticators:
        for token in tokens:
            with pytest.raises(Unauthorized):
                authenticator.authenticate(token, ADDRESS)


def test_www_authenticate_challenge() -> None:
    """A 401 names the Bearer scheme, and says invalid_token when a token was refused."""
    assert www_authenticate(token_sent=False) == 'Bearer realm="hubbub"'
    assert www_authenticate(token_sent=True) == 'Bearer realm="hubbub", error="invalid_token"'
