"""The issuer's Ed25519 signing keys: storage, rotation and publication.

Storage layout (a folder, normally ``instance/signing-keys/``, mode 0700)::

    signing-keys/
        current                 the key id of the key that signs new credentials
        <key-id>.json           one file per key, mode 0600:
                                {"kid", "type": "Ed25519", "created", "publicKeyMultibase",
                                 "privateKeyPem"}   # PKCS#8; removed when the key retires
        .lock                   serialises first-use creation and rotation across processes

The key id is the RFC 7638 JWK thumbprint of the public key, so it is derived from the
key itself and the same key always has the same id. Rotation writes a new key, points
``current`` at it and rewrites the previous key's file without its private part (with a
``retired`` time): the public key stays in the key set, so credentials it signed still
verify, but it can sign nothing more.

A key can also be given as a file (``LMS_SIGNING_KEY_FILE``): an unencrypted PKCS#8 PEM or a
key file in the JSON format above; see :func:`load_key_file`. This module never reads the
environment; the caller passes paths in.

Private key material never appears in ``repr``/``str``, and :class:`SigningKey` refuses to
be pickled, so it does not end up in logs, caches or the database by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.jwk import OKPKey
from joserfc.util import urlsafe_b64decode, urlsafe_b64encode

KEY_DIR_NAME = "signing-keys"
CURRENT_FILE = "current"
LOCK_FILE = ".lock"
#: multicodec ``ed25519-pub`` (0xed) as an unsigned varint: 0xed 0x01.
ED25519_PUB_MULTICODEC = b"\xed\x01"
#: JWS algorithm name used for signing (RFC 8037; widely supported by verifiers).
JWS_ALG = "EdDSA"

_KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SigningKeyError(Exception):
    """A key file or key set is missing, unreadable or malformed."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise SigningKeyError("a key's 'created' time is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SigningKeyError(f"bad time {value!r} in a key") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class PublicKey:
    """A published Ed25519 public key.

    ``key_id`` is the bare key id (the JWK thumbprint, or whatever fragment a published key
    set used); ``controller`` is the issuer URL the key belongs to, when known.
    """

    key_id: str
    raw: bytes = field(repr=False)
    created: datetime | None = None
    controller: str | None = None
    retired: datetime | None = None

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise SigningKeyError("an Ed25519 public key is 32 bytes")

    @classmethod
    def from_cryptography(cls, key: Ed25519PublicKey, **kwargs: Any) -> PublicKey:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_id = kwargs.pop("key_id", None) or thumbprint(raw)
        return cls(key_id=key_id, raw=raw, **kwargs)

    def to_cryptography(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)

    @property
    def public_key_multibase(self) -> str:
        """Multikey form: ``z`` + base58btc(0xed01 + key), which starts ``z6Mk``."""
        return "z" + base58.b58encode(ED25519_PUB_MULTICODEC + self.raw).decode("ascii")

    def verification_method_id(self, issuer_url: str | None = None) -> str:
        """The key's URL, used as the JWS ``kid``: ``<issuer URL>#<key id>``."""
        base = issuer_url or self.controller
        return f"{base}#{self.key_id}" if base else self.key_id

    def jwk(self, issuer_url: str | None = None) -> dict[str, str]:
        """The public key as a JWK (RFC 8037, OKP/Ed25519)."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": urlsafe_b64encode(self.raw).decode("ascii"),
            "kid": self.verification_method_id(issuer_url),
            "alg": JWS_ALG,
            "use": "sig",
        }

    def multikey(self, issuer_url: str | None = None) -> dict[str, str]:
        """The public key as a Multikey verification method (Controlled Identifiers 1.0)."""
        controller = issuer_url or self.controller
        method: dict[str, str] = {
            "id": self.verification_method_id(controller),
            "type": "Multikey",
            "publicKeyMultibase": self.public_key_multibase,
        }
        if controller:
            method["controller"] = controller
        if self.created:
            method["created"] = _iso(self.created)
        if self.retired:
            method["retired"] = _iso(self.retired)
        return method


class SigningKey:
    """A private Ed25519 key with its id and creation time.

    Its ``repr`` and ``str`` show only the id; the private bytes are reachable only through
    :meth:`private_key` (a ``cryptography`` object) and :meth:`joserfc_key`.
    """

    __slots__ = ("_private", "created", "key_id", "public")

    def __init__(self, private: Ed25519PrivateKey, created: datetime | None = None) -> None:
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError("the signing key must be an Ed25519 private key")
        self._private = private
        self.created = created or _now()
        self.public = PublicKey.from_cryptography(private.public_key(), created=self.created)
        self.key_id = self.public.key_id

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def private_key(self) -> Ed25519PrivateKey:
        return self._private

    def joserfc_key(self, issuer_url: str | None = None) -> OKPKey:
        """The key for ``joserfc``; its ``kid`` is the key's URL under ``issuer_url``."""
        return OKPKey.import_key(
            self._private, {"kid": self.public.verification_method_id(issuer_url)}
        )

    def private_pem(self) -> str:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def __repr__(self) -> str:
        return f"<SigningKey Ed25519 kid={self.key_id} created={_iso(self.created)}>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SigningKey cannot be pickled (it holds a private key)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningKey) and other.key_id == self.key_id

    def __hash__(self) -> int:
        return hash(self.key_id)


def thumbprint(raw_public: bytes) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a raw Ed25519 public key."""
    return OKPKey.import_key(Ed25519PublicKey.from_public_bytes(raw_public)).thumbprint()


# --- files ---------------------------------------------------------------------------------


def _key_document(key: SigningKey, *, with_private: bool, retired: datetime | None) -> dict:
    document: dict[str, Any] = {
        "kid": key.key_id,
        "type": "Ed25519",
        "created": _iso(key.created),
        "publicKeyMultibase": key.public.public_key_multibase,
    }
    if with_private:
        document["privateKeyPem"] = key.private_pem()
    if retired is not None:
        document["retired"] = _iso(retired)
    return document


def _write_private_file(path: Path, text: str) -> None:
    """Write ``text`` atomically to ``path`` with mode 0600 (never world-readable)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _ensure_dir(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)


@contextlib.contextmanager
def _locked(key_dir: Path) -> Iterator[None]:
    _ensure_dir(key_dir)
    fd = os.open(key_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_key_document(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SigningKeyError(f"cannot read key file {path.name}: {error}") from None
    if not isinstance(document, dict):
        raise SigningKeyError(f"key file {path.name} is not a JSON object")
    return document


def _signing_key_from_document(document: Mapping[str, Any], name: str) -> SigningKey:
    pem = document.get("privateKeyPem")
    if not isinstance(pem, str):
        raise SigningKeyError(f"key file {name} holds no private key (retired?)")
    key = SigningKey(_load_pem(pem.encode("ascii"), name), _parse_time(document.get("created")))
    if document.get("kid") not in (None, key.key_id):
        raise SigningKeyError(f"key file {name}: 'kid' does not match the key")
    return key


def _load_pem(data: bytes, name: str) -> Ed25519PrivateKey:
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{name} is not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(f"{name} is not an Ed25519 key")
    return private


def load_key_file(path: Path | str) -> SigningKey:
    """Load a signing key given as a file (``LMS_SIGNING_KEY_FILE``): PEM or our JSON."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read signing key file {path}: {error.strerror}") from None
    if data.lstrip().startswith(b"{"):
        return _signing_key_from_document(_read_key_document(path), path.name)
    created = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
    return SigningKey(_load_pem(data, path.name), created)


def write_key_file(key: SigningKey, path: Path | str) -> None:
    """Write ``key`` as a PKCS#8 PEM file with mode 0600 (for ``LMS_SIGNING_KEY_FILE``)."""
    _write_private_file(Path(path), key.private_pem())


def _current_kid(key_dir: Path) -> str | None:
    try:
        kid = (key_dir / CURRENT_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not _KID_PATTERN.match(kid):
        raise SigningKeyError("the 'current' key pointer is malformed")
    return kid


def _install(key_dir: Path, key: SigningKey) -> None:
    document = _key_document(key, with_private=True, retired=None)
    _write_private_file(key_dir / f"{key.key_id}.json", json.dumps(document, indent=2) + "\n")
    _write_private_file(key_dir / CURRENT_FILE, key.key_id + "\n")


def load_or_create(key_dir: Path | str) -> SigningKey:
    """Return the current signing key in ``key_dir``, creating one on first use.

    Safe when several processes start at once: creation happens under a file lock, and a
    process that waited finds the key the first one made.
    """
    key_dir = Path(key_dir)
    kid = _current_kid(key_dir) if key_dir.is_dir() else None
    if kid is None:
        with _locked(key_dir):
            kid = _current_kid(key_dir)
            if kid is None:
                key = SigningKey.generate()
                _install(key_dir, key)
                return key
    path = key_dir / f"{kid}.json"
    return _signing_key_from_document(_read_key_document(path), path.name)


def rotate(key_dir: Path | str, *, keep_private: bool = False) -> SigningKey:
    """Make a new current key; the old ones stay in the key set as public keys only.

    With ``keep_private=True`` the retired keys keep their private part (not advised).
    """
    key_dir = Path(key_dir)
    with _locked(key_dir):
        old_kid = _current_kid(key_dir)
        key = SigningKey.generate()
        _install(key_dir, key)
        if old_kid is not None and old_kid != key.key_id:
            old_path = key_dir / f"{old_kid}.json"
            document = _read_key_document(old_path)
            document["retired"] = _iso(key.created)
            if not keep_private:
                document.pop("privateKeyPem", None)
            _write_private_file(old_path, json.dumps(document, indent=2) + "\n")
        return key


def remember_public_key(key_dir: Path | str, key: SigningKey) -> None:
    """Keep the public part of a key given as a file (``LMS_SIGNING_KEY_FILE``) in ``key_dir``.

    The key set is published from ``key_dir``: once the operator replaces the key file,
    the old key must stay published for the credentials it signed. A file key seen for the
    first time retires the file keys remembered before it. Nothing private is written.
    """
    key_dir = Path(key_dir)
    path = key_dir / f"{key.key_id}.json"
    if path.exists():
        return
    with _locked(key_dir):
        if path.exists():
            return
        for other in sorted(key_dir.glob("*.json")):
            document = _read_key_document(other)
            if document.get("source") == "file" and "retired" not in document:
                document["retired"] = _iso(_now())
                _write_private_file(other, json.dumps(document, indent=2) + "\n")
        document = _key_document(key, with_private=False, retired=None)
        document["source"] = "file"
        _write_private_file(path, json.dumps(document, indent=2) + "\n")


def public_keys(key_dir: Path | str) -> list[PublicKey]:
    """Every key in ``key_dir`` (current and retired) as public keys, oldest first."""
    key_dir = Path(key_dir)
    if not key_dir.is_dir():
        return []
    keys = []
    for path in sorted(key_dir.glob("*.json")):
        document = _read_key_document(path)
        raw = _decode_multikey(document.get("publicKeyMultibase"))
        key = PublicKey(
            key_id=thumbprint(raw),
            raw=raw,
            created=_parse_time(document.get("created")),
            retired=_parse_time(document["retired"]) if "retired" in document else None,
        )
        if document.get("kid") != key.key_id:
            raise SigningKeyError(f"key file {path.name}: 'kid' does not match the key")
        keys.append(key)
    keys.sort(key=lambda k: (k.created or datetime.min.replace(tzinfo=UTC), k.key_id))
    return keys


# --- the published key set -----------------------------------------------------------------


def key_set_document(issuer_url: str, keys: Iterable[PublicKey | SigningKey]) -> dict:
    """The document to publish at a stable URL: a controller document and a JWKS at once.

    ``verificationMethod`` lists Multikey entries (with ``created`` and, for old keys,
    ``retired``); ``assertionMethod`` names the keys allowed to sign credentials; ``keys``
    holds the same keys as JWKs, for JOSE libraries.
    """
    publics = [k.public if isinstance(k, SigningKey) else k for k in keys]
    return {
        "id": issuer_url,
        "verificationMethod": [k.multikey(issuer_url) for k in publics],
        "assertionMethod": [k.verification_method_id(issuer_url) for k in publics],
        "keys": [k.jwk(issuer_url) for k in publics],
    }


def _decode_multikey(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("z"):
        raise SigningKeyError("publicKeyMultibase must be base58btc ('z' prefix)")
    try:
        data = base58.b58decode(value[1:])
    except ValueError:
        raise SigningKeyError("publicKeyMultibase is not valid base58btc") from None
    if not data.startswith(ED25519_PUB_MULTICODEC) or len(data) != 34:
        raise SigningKeyError("publicKeyMultibase is not an Ed25519 public key")
    return data[2:]


def _decode_jwk(jwk: Mapping[str, Any]) -> bytes:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise SigningKeyError("a JWK in the key set is not a public OKP/Ed25519 key")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise SigningKeyError("a JWK in the key set has no 'x'")
    try:
        raw = urlsafe_b64decode(x.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise SigningKeyError("a JWK in the key set has a malformed 'x'") from None
    if len(raw) != 32:
        raise SigningKeyError("a JWK in the key set has a malformed 'x'")
    return raw


def _split_id(identifier: Any) -> tuple[str | None, str]:
    if not isinstance(identifier, str) or not identifier:
        raise SigningKeyError("a key in the key set has no id")
    controller, hash_, fragment = identifier.rpartition("#")
    if not hash_:
        return None, identifier
    return controller or None, fragment


def parse_key_set(document: Any) -> list[PublicKey]:
    """Read a published key set: a controller document (Multikey or JsonWebKey verification
    methods) and/or a JWKS (``keys``). The same id with two different keys is an error."""
    if not isinstance(document, Mapping):
        raise SigningKeyError("the key set is not a JSON object")
    found: dict[tuple[str | None, str], PublicKey] = {}

    def add(identifier: Any, raw: bytes, method: Mapping[str, Any]) -> None:
        controller, key_id = _split_id(identifier)
        controller = method.get("controller") or controller or document.get("id")
        created = _parse_time(method["created"]) if "created" in method else None
        retired = _parse_time(method["retired"]) if "retired" in method else None
        key = PublicKey(key_id, raw, created, controller, retired)
        previous = found.get((controller, key_id))
        if previous is not None and previous.raw != raw:
            raise SigningKeyError(f"the key set has two different keys named {identifier}")
        if previous is None or (key.created and not previous.created):
            found[(controller, key_id)] = key

    methods = document.get("verificationMethod", [])
    if not isinstance(methods, list):
        raise SigningKeyError("verificationMethod must be a list")
    for method in methods:
        if not isinstance(method, Mapping):
            raise SigningKeyError("a verification method is not an object")
        if method.get("type") == "Multikey":
            add(method.get("id"), _decode_multikey(method.get("publicKeyMultibase")), method)
        elif method.get("type") == "JsonWebKey" and isinstance(method.get("publicKeyJwk"), dict):
            add(method.get("id"), _decode_jwk(method["publicKeyJwk"]), method)
    jwks = document.get("keys", [])
    if not isinstance(jwks, list):
        raise SigningKeyError("'keys' must be a list of JWKs")
    for jwk in jwks:
        if not isinstance(jwk, Mapping):
            raise SigningKeyError("a JWK in the key set is not an object")
        add(jwk.get("kid"), _decode_jwk(jwk), {})
    if not found:
        raise SigningKeyError("the key set holds no Ed25519 key")
    return list(found.values())
