"""Open Badges 3.0 credentials as vc+jwt: issue, verify, tamper, rotate, revoke, CLI."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt  # PyJWT: an independent verifier
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from lms.credentials import badges, keys
from lms.credentials.badges import (
    Achievement,
    Issuer,
    StatusEntry,
    StatusListChecker,
    verify_credential,
)
from lms.credentials.cli import credentials_group
from lms.credentials.keys import SigningKey

ISSUER = Issuer(id="https://kenshu.example/issuer", name="Kenshu Training Office")
ACHIEVEMENT = Achievement(
    id="https://kenshu.example/programmes/waste-2026",
    name="Municipal Waste Management 2026",
    description="Collection, incineration and recycling in Tokyo's 23 wards.",
    criteria="Completed every course of the programme with a passing score.",
)
LIST_URL = "https://kenshu.example/credentials/status/1"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _issue(key: SigningKey, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "issuer": ISSUER,
        "achievement": ACHIEVEMENT,
        "recipient_name": "田中 太郎",
        "recipient_email": "Taro.Tanaka@example.jp",
        "valid_from": NOW,
        "status": StatusEntry(LIST_URL, 42),
    }
    claims.update(overrides)
    return badges.issue_credential(key=key, **claims)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict, dict, bytes]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), _unb64(signature)


def _with_payload(token: str, payload: dict) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def test_issue_then_verify(key: SigningKey) -> None:
    token = _issue(key)
    result = verify_credential(token, [key.public], now=NOW)
    assert result.valid, result.reason
    assert result.reason is None
    credential = result.credential
    assert credential is not None
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"].startswith("urn:uuid:")
    assert credential["issuer"] == {
        "id": ISSUER.id,
        "type": ["Profile"],
        "name": "Kenshu Training Office",
    }
    assert credential["validFrom"] == "2026-06-01T09:00:00Z"
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert achievement["type"] == ["Achievement"]
    assert achievement["criteria"] == {"narrative": ACHIEVEMENT.criteria}
    name_id, email_id = subject["identifier"]
    assert name_id["identityType"] == "name" and name_id["identityHash"] == "田中 太郎"
    assert email_id["hashed"] is True and "Taro" not in json.dumps(email_id)
    assert badges.identity_matches(email_id, "taro.tanaka@example.jp")
    assert not badges.identity_matches(email_id, "someone@example.jp")
    assert credential["credentialStatus"] == {
        "id": f"{LIST_URL}#42",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "42",
        "statusListCredential": LIST_URL,
    }
    header, payload, _ = _parts(token)
    assert header == {
        "alg": "EdDSA",
        "typ": "vc+jwt",
        "cty": "vc",
        "kid": f"{ISSUER.id}#{key.key_id}",
    }
    assert payload["iss"] == ISSUER.id
    assert payload["jti"] == credential["id"]
    assert payload["nbf"] == int(NOW.timestamp())
    # Non-Latin names travel as UTF-8, unescaped.
    assert "田中 太郎" in _unb64(token.split(".")[1]).decode("utf-8")


def test_independent_verifier_pyjwt(key: SigningKey) -> None:
    """PyJWT, which shares no code with joserfc, accepts the credential via the key set."""
    token = _issue(key, valid_until=NOW + timedelta(days=3650))
    key_set = jwt.PyJWKSet.from_dict(keys.key_set_document(ISSUER.id, [key]))
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = next(k for k in key_set.keys if k.key_id == kid)
    claims = jwt.decode(
        token, signing_key, algorithms=["EdDSA"], issuer=ISSUER.id, options={"require": ["nbf"]}
    )
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["credentialSubject"]["achievement"]["name"] == ACHIEVEMENT.name
    # ... and rejects a tampered one.
    _, payload, _ = _parts(token)
    payload["name"] = "Forged"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(_with_payload(token, payload), signing_key, algorithms=["EdDSA"])


def test_verifies_a_token_signed_by_pyjwt(key: SigningKey) -> None:
    """The other direction: our verifier accepts a vc+jwt made by another library."""
    credential = badges.build_credential(
        issuer=ISSUER, achievement=ACHIEVEMENT, recipient_name="Somchai", valid_from=NOW
    )
    claims = {**credential, "iss": ISSUER.id, "jti": credential["id"], "nbf": int(NOW.timestamp())}
    token = jwt.encode(
        claims,
        key.private_key(),
        algorithm="EdDSA",
        headers={"typ": "vc+jwt", "cty": "vc", "kid": f"{ISSUER.id}#{key.key_id}"},
    )
    assert verify_credential(token, [key.public], now=NOW).valid


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(name="Another Programme"),
        lambda p: p.update(validFrom="2020-01-01T00:00:00Z"),
        lambda p: p["credentialSubject"]["identifier"][0].update(identityHash="Someone Else"),
        lambda p: p["credentialSubject"]["achievement"].update(name="Forged"),
        lambda p: p["credentialStatus"].update(statusListIndex="43"),
        lambda p: p["issuer"].update(name="Evil Corp"),
        lambda p: p.pop("credentialStatus"),
    ],
)
def test_any_payload_change_is_invalid(key: SigningKey, change: Any) -> None:
    token = _issue(key)
    _, payload, _ = _parts(token)
    change(payload)
    result = verify_credential(_with_payload(token, payload), [key.public], now=NOW)
    assert not result.valid
    assert result.reason == "bad signature"


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_signature_bit_flip_is_invalid(position: int, bit: int) -> None:
    key = _HYPOTHESIS_KEY
    header, payload, signature = _HYPOTHESIS_TOKEN.split(".")
    raw = bytearray(_unb64(signature))
    raw[position % len(raw)] ^= 1 << bit
    tampered = f"{header}.{payload}.{_b64(bytes(raw))}"
    result = verify_credential(tampered, [key.public], now=NOW)
    assert not result.valid and result.reason == "bad signature"


_HYPOTHESIS_KEY = SigningKey.generate()
_HYPOTHESIS_TOKEN = _issue(_HYPOTHESIS_KEY)


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("AQgw-_"))
def test_any_token_character_change_is_invalid(position: int, char: str) -> None:
    token = _HYPOTHESIS_TOKEN
    index = position % len(token)
    if token[index] in (".", char):
        return
    tampered = token[:index] + char + token[index + 1 :]
    assert not verify_credential(tampered, [_HYPOTHESIS_KEY.public], now=NOW).valid


def test_header_changes_are_invalid(key: SigningKey) -> None:
    token = _issue(key)
    header, payload, signature = token.split(".")
    decoded = json.loads(_unb64(header))
    for change, reason in [
        ({"alg": "none"}, "unsupported algorithm 'none'"),
        ({"alg": "HS256"}, "unsupported algorithm 'HS256'"),
        ({"typ": "JWT"}, "unexpected typ 'JWT'"),
        ({"cty": "json"}, "bad signature"),
    ]:
        forged = _b64(json.dumps({**decoded, **change}).encode())
        result = verify_credential(f"{forged}.{payload}.{signature}", [key.public], now=NOW)
        assert (result.valid, result.reason) == (False, reason)
    assert verify_credential(f"{header}.{payload}.", [key.public]).reason == "bad signature"


def test_garbage_is_invalid_without_raising(key: SigningKey) -> None:
    for garbage in ["", "abc", "a.b.c", "....", "{}", b"\xff\xfe", "eyJhbGciOiJFZERTQSJ9.e30.AA"]:
        result = verify_credential(garbage, [key.public], now=NOW)
        assert not result.valid and result.reason


def test_unknown_key_is_invalid(key: SigningKey) -> None:
    token = _issue(key)
    other = SigningKey.generate()
    assert verify_credential(token, [other.public], now=NOW).reason == "unknown key"
    assert verify_credential(token, [], now=NOW).reason == "unknown key"


def test_key_of_another_issuer_is_refused(key: SigningKey) -> None:
    """A key published by issuer A cannot vouch for a credential naming issuer B."""
    impostor = Issuer(id="https://evil.example/issuer", name="Kenshu Training Office")
    token = badges.sign_credential(
        {
            **badges.build_credential(
                issuer=ISSUER, achievement=ACHIEVEMENT, recipient_name="X", valid_from=NOW
            ),
            "issuer": impostor.profile(),
        },
        key,
    )
    # The kid names evil.example; a key set that only knows Kenshu's keys refuses it.
    published = keys.parse_key_set(keys.key_set_document(ISSUER.id, [key]))
    assert verify_credential(token, published, now=NOW).reason == "unknown key"
    # A kid naming Kenshu's key on a credential naming another issuer is refused too.
    _, payload, _ = _parts(token)
    forged = badges._sign(payload, key, ISSUER.id)  # genuine signature, wrong issuer
    assert verify_credential(forged, published, now=NOW).reason == (
        "key does not belong to the issuer"
    )


def test_rotated_key_old_credentials_still_verify(tmp_path: Path) -> None:
    key_dir = tmp_path / "signing-keys"
    old_key = keys.load_or_create(key_dir)
    old_token = _issue(old_key, valid_from=NOW - timedelta(days=30))
    new_key = keys.rotate(key_dir)
    new_token = _issue(new_key)
    key_set = keys.parse_key_set(keys.key_set_document(ISSUER.id, keys.public_keys(key_dir)))
    assert verify_credential(old_token, key_set, now=NOW).valid
    assert verify_credential(new_token, key_set, now=NOW).valid
    # Only the new key can still sign.
    with pytest.raises(keys.SigningKeyError):
        keys.load_key_file(key_dir / f"{old_key.key_id}.json")


def test_credential_signed_after_key_retired_is_refused(tmp_path: Path) -> None:
    key_dir = tmp_path / "signing-keys"
    old_key = keys.load_or_create(key_dir)
    keys.rotate(key_dir)
    retired = next(k for k in keys.public_keys(key_dir) if k.key_id == old_key.key_id)
    assert retired.retired is not None
    late = _issue(old_key, valid_from=retired.retired + timedelta(days=2))
    result = verify_credential(late, keys.public_keys(key_dir), now=NOW + timedelta(days=3650))
    assert result.reason == "signed with a retired key"


def test_validity_window(key: SigningKey) -> None:
    token = _issue(key, valid_until=NOW + timedelta(days=365))
    assert verify_credential(token, [key.public], now=NOW + timedelta(days=364)).valid
    assert verify_credential(token, [key.public], now=NOW + timedelta(days=366)).reason == (
        "expired"
    )
    assert verify_credential(token, [key.public], now=NOW - timedelta(days=1)).reason == (
        "not yet valid"
    )
    assert _parts(token)[1]["exp"] == int((NOW + timedelta(days=365)).timestamp())


def test_bad_claims_are_refused() -> None:
    with pytest.raises(badges.CredentialError):
        badges.build_credential(issuer=ISSUER, achievement=ACHIEVEMENT, recipient_name=" ")
    with pytest.raises(badges.CredentialError):
        badges.build_credential(
            issuer=ISSUER,
            achievement=ACHIEVEMENT,
            recipient_name="A",
            valid_from=NOW,
            valid_until=NOW,
        )
    with pytest.raises(badges.CredentialError):
        badges.build_credential(
            issuer=ISSUER,
            achievement=ACHIEVEMENT,
            recipient_name="A",
            valid_from=datetime(2026, 1, 1),  # naive
        )


# --- status lists --------------------------------------------------------------------------


def test_status_list_encoding() -> None:
    encoded = badges.encode_status_list([0, 7, 8, 131_071])
    assert encoded.startswith("u") and "=" not in encoded
    bits = badges.decode_status_list(encoded)
    assert len(bits) == 16 * 1024  # 131,072 entries
    assert bits[0] == 0b1000_0001 and bits[1] == 0b1000_0000 and bits[-1] == 0b0000_0001
    assert sum(bin(b).count("1") for b in bits) == 4
    # Deterministic (no timestamp in the GZIP header), and small when sparse.
    assert encoded == badges.encode_status_list([131_071, 8, 7, 0])
    assert len(encoded) < 300
    with pytest.raises(badges.CredentialError):
        badges.encode_status_list([131_072])
    with pytest.raises(badges.CredentialError):
        badges.encode_status_list([], size=1024)


@settings(max_examples=30, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=131_071), max_size=50))
def test_status_list_round_trip(revoked: set[int]) -> None:
    listed = badges.build_status_list_credential(revoked, list_url=LIST_URL, issuer=ISSUER)
    for index in list(revoked)[:10] + [0, 1, 4242, 131_071]:
        assert badges.is_revoked(listed, index) == (index in revoked)


def test_status_list_decode_rejects_garbage() -> None:
    for bad in ["", "zabc", "u!!!", "u" + _b64(b"not gzip"), "u" + _b64(b"\x1f\x8b\x08")]:
        with pytest.raises(badges.CredentialError):
            badges.decode_status_list(bad)
    import gzip

    short = "u" + _b64(gzip.compress(bytes(100)))
    with pytest.raises(badges.CredentialError, match="shorter"):
        badges.decode_status_list(short)


def test_revoked_credential_is_invalid(key: SigningKey) -> None:
    token = _issue(key)  # index 42
    clean = badges.status_list_credential([1, 2, 3], key=key, list_url=LIST_URL, issuer=ISSUER)
    revoked = badges.status_list_credential([42], key=key, list_url=LIST_URL, issuer=ISSUER)
    ok = verify_credential(
        token, [key.public], status_checker=StatusListChecker([clean], [key.public]), now=NOW
    )
    assert ok.valid and ok.status_checked
    result = verify_credential(
        token, [key.public], status_checker=StatusListChecker([revoked], [key.public]), now=NOW
    )
    assert (result.valid, result.reason) == (False, "revoked")
    # The status list credential is itself a verifiable credential.
    listed = verify_credential(revoked, [key.public])
    assert listed.valid
    assert listed.credential["type"] == [
        "VerifiableCredential",
        "BitstringStatusListCredential",
    ]
    assert listed.credential["credentialSubject"]["type"] == "BitstringStatusList"


def test_status_list_must_be_genuine(key: SigningKey) -> None:
    token = _issue(key)
    forger = SigningKey.generate()
    forged = badges.status_list_credential([], key=forger, list_url=LIST_URL, issuer=ISSUER)
    result = verify_credential(
        token, [key.public], status_checker=StatusListChecker([forged], [key.public]), now=NOW
    )
    assert (result.valid, result.reason) == (False, "status list invalid: unknown key")
    other_url = badges.status_list_credential([], key=key, list_url=LIST_URL + "x", issuer=ISSUER)
    result = verify_credential(
        token, [key.public], status_checker=StatusListChecker([other_url], [key.public]), now=NOW
    )
    assert (result.valid, result.reason) == (False, "status list not available")


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    key_dir = tmp_path / "signing-keys"
    old_key = keys.load_or_create(key_dir)
    old_token = _issue(old_key, valid_from=datetime.now(UTC) - timedelta(days=2))
    new_key = keys.rotate(key_dir)
    token = _issue(new_key, valid_from=datetime.now(UTC), status=StatusEntry(LIST_URL, 7))
    paths = {
        "jwt": tmp_path / "credential.jwt",
        "json": tmp_path / "credential.json",
        "old": tmp_path / "old.jwt",
        "keys": tmp_path / "keys.json",
        "clean": tmp_path / "status-clean.jwt",
        "revoked": tmp_path / "status-revoked.json",
        "tampered": tmp_path / "tampered.jwt",
    }
    paths["jwt"].write_text(token + "\n")
    paths["json"].write_text(json.dumps(badges.envelope(token)))
    paths["old"].write_text(old_token)
    paths["keys"].write_text(
        json.dumps(keys.key_set_document(ISSUER.id, keys.public_keys(key_dir)))
    )
    paths["clean"].write_text(
        badges.status_list_credential([1], key=new_key, list_url=LIST_URL, issuer=ISSUER)
    )
    paths["revoked"].write_text(
        json.dumps(
            badges.envelope(
                badges.status_list_credential([7], key=new_key, list_url=LIST_URL, issuer=ISSUER)
            )
        )
    )
    _, payload, _ = _parts(token)
    payload["credentialSubject"]["identifier"][0]["identityHash"] = "Someone Else"
    paths["tampered"].write_text(_with_payload(token, payload))
    return paths


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(credentials_group, ["verify", *map(str, args)])
    return result.exit_code, result.output


def test_cli_valid(files: dict[str, Path]) -> None:
    assert _run(files["jwt"], "--keys", files["keys"]) == (
        0,
        "valid\nnote: revocation status not checked (no --status file given)\n",
    )
    code, output = _run(files["json"], "--keys", files["keys"], "--status", files["clean"])
    assert (code, output) == (0, "valid\n")
    assert _run(files["old"], "--key-file", files["keys"])[0] == 0


def test_cli_invalid(files: dict[str, Path], tmp_path: Path) -> None:
    assert _run(files["tampered"], "--keys", files["keys"]) == (1, "INVALID: bad signature\n")
    assert _run(files["jwt"], "--keys", files["keys"], "--status", files["revoked"]) == (
        1,
        "INVALID: revoked\n",
    )
    other = tmp_path / "other-keys.json"
    other.write_text(json.dumps(keys.key_set_document(ISSUER.id, [SigningKey.generate()])))
    assert _run(files["jwt"], "--keys", other) == (1, "INVALID: unknown key\n")


def test_cli_single_jwk_and_bad_key_file(files: dict[str, Path], tmp_path: Path) -> None:
    document = json.loads(files["keys"].read_text())
    single = tmp_path / "jwk.json"
    kid = _parts(files["jwt"].read_text().strip())[0]["kid"]
    single.write_text(json.dumps(next(k for k in document["keys"] if k["kid"] == kid)))
    assert _run(files["jwt"], "--keys", single)[0] == 0
    assert _run(files["old"], "--keys", single) == (1, "INVALID: unknown key\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, output = _run(files["jwt"], "--keys", bad)
    assert code == 2 and "--keys" in output


def test_cli_through_the_flask_app(files: dict[str, Path], tmp_path: Path) -> None:
    """Registered on an app, the command runs without needing a database."""
    from tests.conftest import build_app

    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")
    app.cli.add_command(credentials_group)
    result = app.test_cli_runner().invoke(
        args=["credentials", "verify", str(files["jwt"]), "--keys", str(files["keys"])]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid\n")
