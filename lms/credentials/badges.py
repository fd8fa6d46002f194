"""Open Badges 3.0 credentials secured as VC-JOSE (``vc+jwt``), and Bitstring Status Lists.

The securing mechanism is "Securing Verifiable Credentials using JOSE and COSE" (W3C):
the credential, a JSON object in the Verifiable Credentials Data Model 2.0, is the payload
of a compact JWS signed with Ed25519 (``alg`` ``EdDSA``, ``typ`` ``vc+jwt``, ``cty`` ``vc``,
``kid`` = the URL of the issuer's key). Open Badges 3.0 (section 8.2) accepts this form; the
JWT claims it expects (``iss``, ``jti``, ``nbf``, ``exp``) are added and kept equal to the
credential's ``issuer.id``, ``id``, ``validFrom`` and ``validUntil``. Signing and checking
the signature are done by ``joserfc``; nothing here handles signature bytes by hand.

Why not a Data Integrity proof (``eddsa-rdfc-2022``): it needs RDF canonicalisation of the
JSON-LD document, which needs the VC 2.0 and Open Badges contexts at run time. No package
on PyPI ships those contexts, and fetching them from the network at verification time
would break the offline check. A JWS needs nothing but the public key, and every JOSE
library can check it (the tests check ours with PyJWT).

The trainee is named in ``credentialSubject.identifier``, the Open Badges 3.0 way for a
subject without a URL of their own: one ``IdentityObject`` with ``identityType`` ``name``,
unhashed (the name is what the certificate shows), and optionally one with the email
address, salted and hashed (``sha256$<hex of SHA-256(email + salt)>``), so that someone who
knows the trainee's email can match it without the credential revealing it.

Revocation uses the W3C Bitstring Status List: a GZIP-compressed bitstring (index 0 is the
most significant bit of the first byte) of at least 131,072 entries, base64url-encoded
with the multibase prefix ``u``, inside a ``BitstringStatusListCredential`` signed like any
other credential.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey

from lms.credentials.keys import JWS_ALG, PublicKey, SigningKey

VC_CONTEXT_V2 = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_CONTEXT = [VC_CONTEXT_V2, OB_CONTEXT]
JOSE_TYP = "vc+jwt"
JOSE_CTY = "vc"
#: Algorithms accepted when verifying: RFC 8037 ``EdDSA`` and its RFC 9864 successor.
ACCEPTED_ALGS = frozenset({"EdDSA", "Ed25519"})
STATUS_LIST_MIN_ENTRIES = 131_072  # 16 KiB
#: Upper bound when decompressing a status list, against decompression bombs (128 Mbit).
STATUS_LIST_MAX_BYTES = 16 * 1024 * 1024
#: Leeway for clocks that disagree a little, in the validity window checks.
CLOCK_SKEW = timedelta(minutes=5)

StatusChecker = Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]
"""Called with (credential, credentialStatus entry); returns a reason to reject, or None."""


class CredentialError(ValueError):
    """Bad input when building a credential or a status list."""


# --- JOSE ----------------------------------------------------------------------------------


class _Registry(jws.JWSRegistry):
    """Allows exactly the Ed25519 algorithms.

    joserfc warns on every use of ``EdDSA`` since RFC 9864 named a fully specified
    successor; ``EdDSA`` is still the name that deployed VC verifiers understand, so it is
    what we sign with, and the warning is not repeated on each credential.
    """

    def __init__(self) -> None:
        super().__init__(algorithms=sorted(ACCEPTED_ALGS))

    def get_alg(self, name: str) -> jws.JWSAlgModel:
        if name not in ACCEPTED_ALGS or name not in self.algorithms:
            raise JoseError(f"algorithm {name!r} is not allowed")
        return self.algorithms[name]


_REGISTRY = _Registry()
_REGISTRY.max_payload_length = 1024 * 1024  # status lists are larger than a plain JWT
_REGISTRY.max_header_length = 2048  # the kid is a URL


def _sign(payload: Mapping[str, Any], key: SigningKey, issuer_url: str) -> str:
    header = {
        "alg": JWS_ALG,
        "typ": JOSE_TYP,
        "cty": JOSE_CTY,
        "kid": key.public.verification_method_id(issuer_url),
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return jws.serialize_compact(header, body, key.joserfc_key(issuer_url), registry=_REGISTRY)


# --- building ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """The issuing organisation: ``id`` is its profile URL, published at a stable address."""

    id: str
    name: str
    url: str | None = None
    email: str | None = None

    def profile(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"id": self.id, "type": ["Profile"], "name": self.name}
        if self.url:
            profile["url"] = self.url
        if self.email:
            profile["email"] = self.email
        return profile


@dataclass(frozen=True)
class Achievement:
    id: str
    name: str
    description: str
    criteria: str


@dataclass(frozen=True)
class StatusEntry:
    """Where a credential's revocation bit lives."""

    list_url: str
    index: int

    def __post_init__(self) -> None:
        if self.index < 0:
            raise CredentialError("a status list index is not negative")

    def as_dict(self) -> dict[str, str]:
        return {
            "id": f"{self.list_url}#{self.index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(self.index),
            "statusListCredential": self.list_url,
        }


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise CredentialError("times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def hash_identity(value: str, salt: str) -> str:
    """Open Badges identity hash: ``sha256$`` + hex SHA-256 of value followed by salt."""
    return "sha256$" + hashlib.sha256((value + salt).encode("utf-8")).hexdigest()


def identity_matches(identity: Mapping[str, Any], value: str) -> bool:
    """Whether an ``IdentityObject`` names ``value`` (an email is compared case-folded)."""
    if identity.get("identityType") == "emailAddress":
        value = value.strip().lower()
    if identity.get("hashed"):
        salt = identity.get("salt") or ""
        return secrets.compare_digest(str(identity.get("identityHash")), hash_identity(value, salt))
    return identity.get("identityHash") == value


def build_credential(
    *,
    issuer: Issuer,
    achievement: Achievement,
    recipient_name: str,
    recipient_email: str | None = None,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    status: StatusEntry | None = None,
    name: str | None = None,
    email_salt: str | None = None,
    other_names: Sequence[str] = (),
    subject_extra: Mapping[str, Any] | None = None,
    evidence: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The unsigned ``OpenBadgeCredential`` (a plain dict, JSON-ready).

    ``other_names`` are more ``name`` identities (the name in the trainee's own script);
    ``subject_extra`` adds ``AchievementSubject`` properties (``activityEndDate`` ...);
    ``evidence`` lists ``Evidence`` objects (the public verification page).
    """
    if not recipient_name.strip():
        raise CredentialError("the recipient needs a name")
    valid_from = valid_from or datetime.now(UTC).replace(microsecond=0)
    if valid_until is not None and valid_until <= valid_from:
        raise CredentialError("validUntil must be after validFrom")
    identifiers: list[dict[str, Any]] = [
        {
            "type": "IdentityObject",
            "identityType": "name",
            "hashed": False,
            "identityHash": recipient_name,
        }
    ]
    for other in other_names:
        if other.strip() and other != recipient_name:
            identifiers.append(
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": other,
                }
            )
    if recipient_email:
        salt = email_salt or secrets.token_hex(16)
        identifiers.append(
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": hash_identity(recipient_email.strip().lower(), salt),
                "salt": salt,
            }
        )
    credential: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": credential_id or f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": issuer.profile(),
        "validFrom": _iso(valid_from),
        "name": name or achievement.name,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": identifiers,
            "achievement": {
                "id": achievement.id,
                "type": ["Achievement"],
                "name": achievement.name,
                "description": achievement.description,
                "criteria": {"narrative": achievement.criteria},
            },
        },
    }
    if subject_extra:
        credential["credentialSubject"].update(subject_extra)
    if evidence:
        credential["evidence"] = [dict(item) for item in evidence]
    if valid_until is not None:
        credential["validUntil"] = _iso(valid_until)
    if status is not None:
        credential["credentialStatus"] = status.as_dict()
    return credential


def _jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": _issuer_id(credential)}
    if "id" in credential:
        claims["jti"] = credential["id"]
    valid_from = _parse_time(credential.get("validFrom"))
    if valid_from is not None:
        claims["nbf"] = int(valid_from.timestamp())
    valid_until = _parse_time(credential.get("validUntil"))
    if valid_until is not None:
        claims["exp"] = int(valid_until.timestamp())
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping) and isinstance(subject.get("id"), str):
        claims["sub"] = subject["id"]
    return claims


def sign_credential(credential: Mapping[str, Any], key: SigningKey) -> str:
    """Secure any VC 2.0 credential as a compact JWS (``vc+jwt``); returns the token."""
    issuer_url = _issuer_id(credential)
    if not issuer_url:
        raise CredentialError("the credential has no issuer id")
    return _sign({**credential, **_jwt_claims(credential)}, key, issuer_url)


def issue_credential(*, key: SigningKey, **claims: Any) -> str:
    """Build an ``OpenBadgeCredential`` from ``claims`` (see :func:`build_credential`) and
    sign it with ``key``. Returns the compact JWS, the file the trainee downloads."""
    return sign_credential(build_credential(**claims), key)


ENVELOPE_PREFIX = "data:application/vc+jwt,"


def envelope(token: str) -> dict[str, Any]:
    """Wrap a ``vc+jwt`` token as a VC 2.0 ``EnvelopedVerifiableCredential`` (JSON)."""
    return {
        "@context": [VC_CONTEXT_V2],
        "id": ENVELOPE_PREFIX + token,
        "type": "EnvelopedVerifiableCredential",
    }


def unwrap(data: str | bytes) -> str:
    """The compact JWS in a file: the token itself, or an ``EnvelopedVerifiableCredential``.

    Anything else is returned stripped, for :func:`verify_credential` to reject.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    text = data.lstrip("\ufeff").strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return text
        if isinstance(document, dict) and "EnvelopedVerifiableCredential" in _as_list(
            document.get("type")
        ):
            identifier = document.get("id")
            if isinstance(identifier, str) and identifier.startswith(ENVELOPE_PREFIX):
                return identifier[len(ENVELOPE_PREFIX) :]
    return text


# --- status lists --------------------------------------------------------------------------


def encode_status_list(revoked: Iterable[int], size: int = STATUS_LIST_MIN_ENTRIES) -> str:
    """``encodedList`` for the given set bits: multibase ``u`` + base64url(GZIP(bits))."""
    if size < STATUS_LIST_MIN_ENTRIES or size % 8:
        raise CredentialError(f"a status list has at least {STATUS_LIST_MIN_ENTRIES} entries")
    bits = bytearray(size // 8)
    for index in revoked:
        if not 0 <= index < size:
            raise CredentialError(f"status index {index} is outside the list (size {size})")
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode_status_list(encoded: str) -> bytes:
    """The bitstring behind an ``encodedList``; raises :class:`CredentialError` if malformed."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise CredentialError("encodedList must be multibase base64url ('u' prefix)")
    body = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip container
        bits = inflater.decompress(compressed, STATUS_LIST_MAX_BYTES)
    except (ValueError, zlib.error):
        raise CredentialError("encodedList is not base64url-encoded GZIP data") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise CredentialError("encodedList is truncated or too large")
    if len(bits) * 8 < STATUS_LIST_MIN_ENTRIES:
        raise CredentialError("the status list is shorter than 131,072 entries")
    return bits


def build_status_list_credential(
    revoked_indexes: Iterable[int],
    *,
    list_url: str,
    issuer: Issuer,
    size: int = STATUS_LIST_MIN_ENTRIES,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` published at ``list_url``."""
    valid_from = valid_from or datetime.now(UTC).replace(microsecond=0)
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT_V2],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.profile(),
        "validFrom": _iso(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_status_list(revoked_indexes, size),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = _iso(valid_until)
    return credential


def status_list_credential(
    revoked_indexes: Iterable[int], *, key: SigningKey, **options: Any
) -> str:
    """Build and sign a status list credential (see :func:`build_status_list_credential`)."""
    return sign_credential(build_status_list_credential(revoked_indexes, **options), key)


def is_revoked(status_list_credential: Mapping[str, Any], index: int) -> bool:
    """Whether bit ``index`` is set in an (already verified) status list credential."""
    subject = status_list_credential.get("credentialSubject")
    if not isinstance(subject, Mapping):
        raise CredentialError("the status list credential has no credentialSubject")
    bits = decode_status_list(subject.get("encodedList"))  # type: ignore[arg-type]
    if not 0 <= index < len(bits) * 8:
        raise CredentialError(f"status index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


class StatusListChecker:
    """Checks ``credentialStatus`` against status list credentials the caller already has
    (a downloaded file, or the app's own list), verifying each list's signature first."""

    def __init__(
        self,
        status_lists: Iterable[str | Mapping[str, Any]],
        public_keys: Iterable[PublicKey],
        *,
        now: datetime | None = None,
    ) -> None:
        self._tokens = list(status_lists)
        self._keys = list(public_keys)
        self._now = now
        self._lists: dict[str, Mapping[str, Any]] | None = None
        self._error: str | None = None

    def _load(self) -> dict[str, Mapping[str, Any]]:
        if self._lists is None:
            self._lists = {}
            for token in self._tokens:
                result = verify_credential(token, self._keys, now=self._now)
                listed = result.credential or {}
                if not result.valid:
                    self._error = f"status list invalid: {result.reason}"
                    continue
                if "BitstringStatusListCredential" not in _as_list(listed.get("type")):
                    self._error = "status list invalid: not a BitstringStatusListCredential"
                    continue
                self._lists[str(listed.get("id"))] = listed
        return self._lists

    def __call__(self, credential: Mapping[str, Any], entry: Mapping[str, Any]) -> str | None:
        if entry.get("type") != "BitstringStatusListEntry":
            return "unsupported credentialStatus type"
        url = entry.get("statusListCredential")
        listed = self._load().get(str(url))
        if listed is None:
            return self._error or "status list not available"
        if _issuer_id(listed) != _issuer_id(credential):
            return "status list is from another issuer"
        subject = listed.get("credentialSubject") or {}
        purpose = entry.get("statusPurpose")
        if not isinstance(subject, Mapping) or subject.get("statusPurpose") != purpose:
            return "status list purpose does not match"
        try:
            index = int(str(entry.get("statusListIndex")))
            set_ = is_revoked(listed, index)
        except (ValueError, CredentialError) as error:
            return f"status list invalid: {error}"
        if set_:
            return "revoked" if purpose == "revocation" else str(purpose)
        return None


# --- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    valid: bool
    reason: str | None = None
    #: The decoded payload once the signature checked out (also when later checks failed).
    credential: dict[str, Any] | None = field(default=None, repr=False)
    #: Whether ``credentialStatus`` was checked (it is not without a status checker).
    status_checked: bool = False


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _issuer_id(credential: Mapping[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _find_key(kid: str, keys: Sequence[PublicKey]) -> PublicKey | None:
    controller, hash_, fragment = kid.rpartition("#")
    for key in keys:
        if hash_:
            if key.key_id == fragment and key.controller in (None, controller):
                return key
        elif key.key_id == kid:
            return key
    return None


def _header(token: str) -> dict[str, Any] | None:
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _fail(reason: str, credential: dict[str, Any] | None = None) -> VerificationResult:
    return VerificationResult(False, reason, credential)


def verify_credential(
    data: str | bytes,
    public_keys: Iterable[PublicKey],
    *,
    status_checker: StatusChecker | None = None,
    now: datetime | None = None,
) -> VerificationResult:
    """Check a ``vc+jwt`` credential: signature, issuer key, validity window and status.

    ``public_keys`` is the issuer's key set (:func:`lms.credentials.keys.public_keys` or
    :func:`lms.credentials.keys.parse_key_set`). Never raises on bad input: the reason
    says what is wrong.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            return _fail("not a compact JWS")
    token = data.strip()
    if token.count(".") != 2:
        return _fail("not a compact JWS")
    header = _header(token)
    if header is None:
        return _fail("malformed JOSE header")
    if header.get("alg") not in ACCEPTED_ALGS:
        return _fail(f"unsupported algorithm {header.get('alg')!r}")
    if header.get("typ") != JOSE_TYP:
        return _fail(f"unexpected typ {header.get('typ')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        return _fail("no key id (kid)")
    keys = list(public_keys)
    key = _find_key(kid, keys)
    if key is None:
        return _fail("unknown key")
    try:
        signed = jws.deserialize_compact(
            token, OKPKey.import_key(key.to_cryptography()), registry=_REGISTRY
        )
    except BadSignatureError:
        return _fail("bad signature")
    except (JoseError, ValueError, TypeError):
        return _fail("malformed JWS")
    try:
        payload = json.loads(signed.payload)
    except (ValueError, UnicodeDecodeError):
        return _fail("payload is not JSON")
    if not isinstance(payload, dict):
        return _fail("payload is not a JSON object")
    return _check_credential(payload, kid, key, status_checker, now)


def _check_credential(
    credential: dict[str, Any],
    kid: str,
    key: PublicKey,
    status_checker: StatusChecker | None,
    now: datetime | None,
) -> VerificationResult:
    contexts = credential.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_CONTEXT_V2:
        return _fail("not a Verifiable Credential 2.0 (@context)", credential)
    if "VerifiableCredential" not in _as_list(credential.get("type")):
        return _fail("not a VerifiableCredential (type)", credential)
    issuer = _issuer_id(credential)
    if not issuer:
        return _fail("no issuer id", credential)
    controller, hash_, _ = kid.rpartition("#")
    owner = controller if hash_ else key.controller
    if owner is not None and owner != issuer:
        return _fail("key does not belong to the issuer", credential)
    expected = _jwt_claims(credential)
    for claim in ("iss", "jti", "nbf", "exp", "sub"):
        if claim in credential and credential[claim] != expected.get(claim):
            return _fail(f"JWT claim {claim!r} contradicts the credential", credential)
    valid_from = _parse_time(credential.get("validFrom"))
    if valid_from is None:
        return _fail("validFrom missing or malformed", credential)
    now = now or datetime.now(UTC)
    if valid_from > now + CLOCK_SKEW:
        return _fail("not yet valid", credential)
    if key.retired is not None and valid_from > key.retired + CLOCK_SKEW:
        return _fail("signed with a retired key", credential)
    if "validUntil" in credential:
        valid_until = _parse_time(credential["validUntil"])
        if valid_until is None:
            return _fail("validUntil malformed", credential)
        if valid_until < now - CLOCK_SKEW:
            return _fail("expired", credential)
    status_checked = False
    if status_checker is not None and "credentialStatus" in credential:
        for entry in _as_list(credential["credentialStatus"]):
            if not isinstance(entry, Mapping):
                return _fail("malformed credentialStatus", credential)
            reason = status_checker(credential, entry)
            if reason is not None:
                return _fail(reason, credential)
        status_checked = True
    return VerificationResult(True, None, credential, status_checked)
