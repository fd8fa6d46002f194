"""Signing keys: storage, permissions, rotation, export, no leaks."""

from __future__ import annotations

import json
import logging
import pickle
import stat
import threading
from pathlib import Path

import base58
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lms.credentials import keys
from lms.credentials.keys import SigningKey, SigningKeyError

ISSUER = "https://kenshu.example/issuer"


def _private_bytes(key: SigningKey) -> bytes:
    return key.private_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_on_first_use_with_private_permissions(tmp_path: Path) -> None:
    key_dir = tmp_path / "instance" / keys.KEY_DIR_NAME
    key = keys.load_or_create(key_dir)
    assert _mode(key_dir) == 0o700
    key_file = key_dir / f"{key.key_id}.json"
    assert _mode(key_file) == 0o600
    assert (key_dir / "current").read_text().strip() == key.key_id
    document = json.loads(key_file.read_text())
    assert document["kid"] == key.key_id
    assert document["privateKeyPem"].startswith("-----BEGIN PRIVATE KEY-----")
    # Second use loads the same key.
    again = keys.load_or_create(key_dir)
    assert again.key_id == key.key_id
    assert _private_bytes(again) == _private_bytes(key)
    assert again.created == key.created


def test_concurrent_first_use_makes_one_key(tmp_path: Path) -> None:
    key_dir = tmp_path / keys.KEY_DIR_NAME
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(keys.load_or_create(key_dir).key_id))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1
    assert len(list(key_dir.glob("*.json"))) == 1


def test_repr_and_str_do_not_leak_the_private_key(caplog: pytest.LogCaptureFixture) -> None:
    key = SigningKey.generate()
    private = _private_bytes(key)
    pem = key.private_pem()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("key %s %r", key, key)
    for text in (repr(key), str(key), f"{key}", caplog.text):
        assert key.key_id in text
        assert private.hex() not in text
        assert private.hex().upper() not in text
        assert base58.b58encode(private).decode() not in text
        assert pem.splitlines()[1] not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_rotation_keeps_old_public_keys_and_drops_old_private(tmp_path: Path) -> None:
    key_dir = tmp_path / keys.KEY_DIR_NAME
    first = keys.load_or_create(key_dir)
    second = keys.rotate(key_dir)
    assert second.key_id != first.key_id
    assert keys.load_or_create(key_dir).key_id == second.key_id
    published = {k.key_id: k for k in keys.public_keys(key_dir)}
    assert set(published) == {first.key_id, second.key_id}
    assert published[first.key_id].retired is not None
    assert published[second.key_id].retired is None
    old = json.loads((key_dir / f"{first.key_id}.json").read_text())
    assert "privateKeyPem" not in old and old["retired"]
    assert _mode(key_dir / f"{first.key_id}.json") == 0o600
    third = keys.rotate(key_dir)
    assert len(keys.public_keys(key_dir)) == 3
    assert keys.load_or_create(key_dir).key_id == third.key_id


def test_rotate_on_empty_dir_creates_a_key(tmp_path: Path) -> None:
    key = keys.rotate(tmp_path / "k")
    assert keys.load_or_create(tmp_path / "k").key_id == key.key_id


def test_key_file_pem_and_json(tmp_path: Path) -> None:
    key = SigningKey.generate()
    pem_path = tmp_path / "signing.pem"
    keys.write_key_file(key, pem_path)
    assert _mode(pem_path) == 0o600
    loaded = keys.load_key_file(pem_path)
    assert loaded.key_id == key.key_id and _private_bytes(loaded) == _private_bytes(key)
    key_dir = tmp_path / "dir"
    stored = keys.load_or_create(key_dir)
    from_json = keys.load_key_file(key_dir / f"{stored.key_id}.json")
    assert from_json.key_id == stored.key_id


def test_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError):
        keys.load_key_file(tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(SigningKeyError):
        keys.load_key_file(bad)
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    bad.write_bytes(other)
    with pytest.raises(SigningKeyError, match="Ed25519"):
        keys.load_key_file(bad)


def test_key_id_is_the_jwk_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
    raw = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert keys.thumbprint(raw) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_multikey_and_jwk_export() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    key = SigningKey(private)
    multibase = key.public.public_key_multibase
    assert multibase.startswith("z6Mk")
    decoded = base58.b58decode(multibase[1:])
    assert decoded[:2] == b"\xed\x01" and decoded[2:] == key.public.raw
    jwk = key.public.jwk(ISSUER)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "d" not in jwk
    assert jwk["kid"] == f"{ISSUER}#{key.key_id}"
    method = key.public.multikey(ISSUER)
    assert method["type"] == "Multikey" and method["controller"] == ISSUER


def test_multikey_round_trip_of_published_example() -> None:
    # Multikey example from the W3C Controlled Identifiers / Data Integrity EdDSA specs.
    raw = base58.b58decode("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"[1:])[2:]
    public = keys.PublicKey("k", raw)
    assert public.public_key_multibase == "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


def test_key_set_document_round_trip(tmp_path: Path) -> None:
    key_dir = tmp_path / "k"
    first = keys.load_or_create(key_dir)
    second = keys.rotate(key_dir)
    document = keys.key_set_document(ISSUER, keys.public_keys(key_dir))
    assert document["assertionMethod"] == [m["id"] for m in document["verificationMethod"]]
    assert not any("d" in jwk for jwk in document["keys"])
    text = json.dumps(document)
    assert "PRIVATE" not in text
    parsed = {k.key_id: k for k in keys.parse_key_set(json.loads(text))}
    assert set(parsed) == {first.key_id, second.key_id}
    assert parsed[first.key_id].raw == first.public.raw
    assert parsed[first.key_id].controller == ISSUER
    assert parsed[first.key_id].retired is not None
    # The JWKS part alone is enough.
    only_jwks = keys.parse_key_set({"keys": document["keys"]})
    assert {k.key_id for k in only_jwks} == {first.key_id, second.key_id}


def test_parse_key_set_rejects_bad_documents() -> None:
    key = SigningKey.generate()
    other = SigningKey.generate()
    for bad in (
        [],
        {},
        {"keys": [{"kty": "RSA", "kid": "x"}]},
        {"keys": [{**key.public.jwk(ISSUER), "d": "secret"}]},
        {"verificationMethod": [{"id": "x#1", "type": "Multikey", "publicKeyMultibase": "zabc"}]},
        {  # the same id naming two different keys
            "keys": [
                key.public.jwk(ISSUER),
                {**other.public.jwk(ISSUER), "kid": key.public.verification_method_id(ISSUER)},
            ]
        },
    ):
        with pytest.raises(SigningKeyError):
            keys.parse_key_set(bad)
