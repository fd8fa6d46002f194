"""The credential of a completion record: signed, downloaded, published keys and status.

The downloaded file is checked with ``lms credentials verify`` and, independently, with
PyJWT; a change to it, or a revocation, makes it fail.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt  # PyJWT: an independent verifier
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from lms.accounts.models import Role
from lms.audit.models import AuditEvent
from lms.credentials import issuing, keys
from lms.credentials.badges import ENVELOPE_PREFIX
from lms.credentials.cli import credentials_group
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from tests.conftest import login
from tests.credentials.conftest import Completed, complete_programme

BASE_URL = "http://127.0.0.1:5000"  # LMS_BASE_URL's default, used by the test apps


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def _download(client: FlaskClient, record_id: int) -> str:
    """The compact JWS inside the downloaded JSON file."""
    response = client.get(f"/records/{record_id}/credential.json")
    assert response.status_code == 200, response.status_code
    document = json.loads(response.get_data(as_text=True))
    assert document["type"] == "EnvelopedVerifiableCredential"
    assert document["id"].startswith(ENVELOPE_PREFIX)
    return document["id"][len(ENVELOPE_PREFIX) :]


def _save_public(client: FlaskClient, tmp_path: Path, name: str = "") -> tuple[Path, Path]:
    """Download the published key set and status list 1 as a verifier would."""
    keys_file = tmp_path / f"keys{name}.json"
    keys_file.write_bytes(client.get("/credentials/keys").get_data())
    status_file = tmp_path / f"status{name}.jwt"
    status_file.write_bytes(client.get("/credentials/status/1").get_data())
    return keys_file, status_file


def _cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(credentials_group, ["verify", *map(str, args)])
    return result.exit_code, result.output


def _pyjwt_decode(token: str, key_set: dict) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in key_set["keys"] if k["kid"] == kid)
    return jwt.decode(
        token,
        key=jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        options={"require": ["iss", "nbf", "jti"]},
        issuer=f"{BASE_URL}/credentials/issuer",
    )


def _revoke(app: Flask, make_user, record_id: int, reason: str = "Issued in error") -> None:
    admin = make_user(Role.ADMIN)
    response = _client_for(app, admin.email).post(
        f"/admin/records/{record_id}/revoke", data={"reason": reason}
    )
    assert response.status_code == 302


def test_a_record_issued_in_the_app_is_signed_at_once(app: Flask, make_user) -> None:
    with app.app_context():  # as in a request or a job
        done = complete_programme(app, make_user, name="Ana Souza")
    with new_session(app) as session:
        record = session.get(CompletionRecord, done.record_id)
        token = record.credential_jwt
    assert token is not None and token.count(".") == 2
    payload = json.loads(_unb64(token.split(".")[1]))
    assert payload["id"] == f"urn:uuid:{record.public_id}"
    assert payload["credentialStatus"]["statusListIndex"] == str(done.record_id - 1)
    assert payload["credentialStatus"]["statusListCredential"] == f"{BASE_URL}/credentials/status/1"
    # the stored bytes are what the trainee downloads
    assert _download(_client_for(app, done.trainee_email), done.record_id) == token


def test_downloaded_credential_verifies_and_fails_when_changed_or_revoked(
    app: Flask, make_user, completed: Completed, tmp_path: Path
) -> None:
    trainee = _client_for(app, completed.trainee_email)
    token = _download(trainee, completed.record_id)
    credential_file = tmp_path / "credential.json"
    credential_file.write_bytes(trainee.get(f"/records/{completed.record_id}/credential.json").data)
    keys_file, status_file = _save_public(app.test_client(), tmp_path)

    assert _cli(credential_file, "--keys", keys_file, "--status", status_file) == (0, "valid\n")
    payload = _pyjwt_decode(token, json.loads(keys_file.read_text()))
    assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    names = [i["identityHash"] for i in payload["credentialSubject"]["identifier"][:2]]
    assert names == ["Hanako Yamada", "山田 花子"]
    assert payload["credentialSubject"]["achievement"]["name"].startswith("Programme P-")
    assert completed.code in json.dumps(payload["evidence"])

    # any change to the payload, or to the signature, breaks it for both verifiers
    header, body, signature = token.split(".")
    changed = json.loads(_unb64(body))
    changed["credentialSubject"]["identifier"][0]["identityHash"] = "Someone Else"
    forged = [
        f"{header}.{_b64(json.dumps(changed).encode())}.{signature}",
        f"{header}.{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BA'}",
    ]
    for number, bad in enumerate(forged):
        bad_file = tmp_path / f"bad{number}.jwt"
        bad_file.write_text(bad)
        code, output = _cli(bad_file, "--keys", keys_file, "--status", status_file)
        assert code == 1 and output.startswith("INVALID"), output
        with pytest.raises(jwt.InvalidTokenError):
            _pyjwt_decode(bad, json.loads(keys_file.read_text()))

    _revoke(app, make_user, completed.record_id)
    _, fresh_status = _save_public(app.test_client(), tmp_path, "-after")
    assert _cli(credential_file, "--keys", keys_file, "--status", fresh_status) == (
        1,
        "INVALID: revoked\n",
    )
    # the signed bytes are unchanged (revocation lives in the published list); the
    # trainee is no longer handed the revoked credential, an admin still is
    assert trainee.get(f"/records/{completed.record_id}/credential.json").status_code == 404
    admin = _client_for(app, make_user(Role.ADMIN).email)
    assert _download(admin, completed.record_id) == token


def test_every_download_is_audited(app: Flask, make_user, completed: Completed) -> None:
    trainee = _client_for(app, completed.trainee_email)
    _download(trainee, completed.record_id)
    admin = make_user(Role.ADMIN)
    _download(_client_for(app, admin.email), completed.record_id)
    with new_session(app) as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "credentials.download")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.actor_id for e in events] == [completed.trainee_id, admin.id]
    assert {e.subject for e in events} == {f"completion_record:{completed.record_id}"}


def test_only_the_trainee_and_admins_can_download(
    app: Flask, make_user, completed: Completed
) -> None:
    url = f"/records/{completed.record_id}/credential.json"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for role in (Role.TRAINEE, Role.INSTRUCTOR, Role.SPONSOR):
        other = make_user(role)
        response = _client_for(app, other.email).get(url)
        assert response.status_code == 404, role
        assert b"eyJ" not in response.data
    missing = _client_for(app, completed.trainee_email).get("/records/999999/credential.json")
    assert missing.status_code == 404
    with new_session(app) as session:
        downloads = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "credentials.download")
        ).all()
    assert downloads == []


def test_reissue_signs_a_new_credential_and_revokes_the_old(
    app: Flask, make_user, completed: Completed, tmp_path: Path
) -> None:
    trainee = _client_for(app, completed.trainee_email)
    old_token = _download(trainee, completed.record_id)
    admin = _client_for(app, make_user(Role.ADMIN).email)
    assert admin.post(f"/admin/records/{completed.record_id}/reissue").status_code == 302
    with new_session(app) as session:
        new = session.scalar(
            select(CompletionRecord).where(CompletionRecord.replaced_by_id.is_(None))
        )
        new_id, new_token = new.id, new.credential_jwt
    assert new_id != completed.record_id
    assert new_token is not None  # signed in the reissuing request
    keys_file, status_file = _save_public(app.test_client(), tmp_path)
    for number, token in enumerate((old_token, new_token)):
        (tmp_path / f"c{number}.jwt").write_text(token)
    assert _cli(tmp_path / "c0.jwt", "--keys", keys_file, "--status", status_file)[1] == (
        "INVALID: revoked\n"
    )
    assert _cli(tmp_path / "c1.jwt", "--keys", keys_file, "--status", status_file) == (
        0,
        "valid\n",
    )
    assert _download(trainee, new_id) == new_token


def test_rotation_keeps_old_credentials_verifiable(
    app: Flask, completed: Completed, tmp_path: Path
) -> None:
    trainee = _client_for(app, completed.trainee_email)
    old_token = _download(trainee, completed.record_id)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    result = app.test_cli_runner().invoke(args=["lms", "credentials", "rotate-key"])
    assert result.exit_code == 0, result.output
    new_kid = result.output.strip().rsplit(" ", 1)[1]
    assert new_kid != old_kid and "PRIVATE" not in result.output
    new_key = keys.load_or_create(Path(app.instance_path) / keys.KEY_DIR_NAME)
    assert new_kid.endswith("#" + new_key.key_id)
    published = app.test_client().get("/credentials/keys").get_json()
    kids = [k["kid"] for k in published["keys"]]
    assert old_kid in kids and f"{BASE_URL}/credentials/issuer#{new_key.key_id}" in kids
    retired = [m for m in published["verificationMethod"] if m["id"] == old_kid]
    assert "retired" in retired[0]
    assert all("d" not in k for k in published["keys"])  # public keys only
    # the status list is now signed with the new key and still checks the old credential
    keys_file, status_file = _save_public(app.test_client(), tmp_path)
    status_kid = jwt.get_unverified_header(status_file.read_text())["kid"]
    assert status_kid.endswith(new_key.key_id)
    (tmp_path / "old.jwt").write_text(old_token)
    assert _cli(tmp_path / "old.jwt", "--keys", keys_file, "--status", status_file) == (
        0,
        "valid\n",
    )
    _pyjwt_decode(old_token, published)


def _every_stored_text(app: Flask) -> str:
    from lms.db import Base

    dump = []
    with new_session(app) as session:
        for table in Base.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in session.execute(table.select()))
    return "\n".join(dump)


def test_signing_key_file_is_used_and_old_file_keys_stay_published(
    app_factory, make_user, tmp_path: Path
) -> None:
    first, second = keys.SigningKey.generate(), keys.SigningKey.generate()
    first_file, second_file = tmp_path / "first.pem", tmp_path / "second.pem"
    keys.write_key_file(first, first_file)
    keys.write_key_file(second, second_file)

    app = app_factory(LMS_SIGNING_KEY_FILE=str(first_file))
    done = complete_programme(app, make_user, name="Kim Minji", native_name="김민지")
    token = _download(_client_for(app, done.trainee_email), done.record_id)
    assert jwt.get_unverified_header(token)["kid"].endswith("#" + first.key_id)
    key_dir = Path(app.instance_path) / keys.KEY_DIR_NAME
    assert not (key_dir / keys.CURRENT_FILE).exists()  # no key generated beside the file
    private_parts = (first.private_pem(), first.private_pem().splitlines()[1])
    for path in key_dir.glob("*.json"):
        assert not any(part in path.read_text() for part in private_parts)
    stored = _every_stored_text(app)
    assert token in stored and not any(part in stored for part in private_parts)

    # the operator replaces the key file: new credentials use it, old ones still verify
    rotate = app.test_cli_runner().invoke(args=["lms", "credentials", "rotate-key"])
    assert rotate.exit_code == 1 and "LMS_SIGNING_KEY_FILE" in rotate.output
    app2 = app_factory(LMS_SIGNING_KEY_FILE=str(second_file))
    status = app2.test_client().get("/credentials/status/1").get_data(as_text=True)
    assert jwt.get_unverified_header(status)["kid"].endswith("#" + second.key_id)
    keys_file, status_file = _save_public(app2.test_client(), tmp_path)
    (tmp_path / "c.jwt").write_text(token)
    assert _cli(tmp_path / "c.jwt", "--keys", keys_file, "--status", status_file) == (
        0,
        "valid\n",
    )


def test_a_bad_signing_key_file_stops_start_up(tmp_path: Path) -> None:
    from lms.config import ConfigError, load_settings

    env = {"LMS_INSTANCE_PATH": str(tmp_path / "instance"), "LMS_SECRET_KEY": "x"}
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
    for path in (tmp_path / "missing.pem", not_a_key):
        with pytest.raises(ConfigError) as error:
            load_settings({**env, "LMS_SIGNING_KEY_FILE": str(path)})
        assert "LMS_SIGNING_KEY_FILE" in str(error.value) and "c2VjcmV0" not in str(error.value)
    good = tmp_path / "good.pem"
    keys.write_key_file(keys.SigningKey.generate(), good)
    assert load_settings({**env, "LMS_SIGNING_KEY_FILE": str(good)}).signing_key_file == good


def test_published_documents_need_no_login_and_can_be_cached(
    client: FlaskClient, completed: Completed
) -> None:
    profile = client.get("/credentials/issuer")
    assert profile.status_code == 200 and profile.mimetype == "application/json"
    document = profile.get_json()
    assert document["id"] == f"{BASE_URL}/credentials/issuer"
    assert document["type"] == ["Profile"] and document["name"]
    assert document["verificationMethod"][0]["type"] == "Multikey"
    assert "public" in profile.headers["Cache-Control"]
    assert "max-age" in profile.headers["Cache-Control"]
    again = client.get("/credentials/issuer", headers={"If-None-Match": profile.headers["ETag"]})
    assert again.status_code == 304

    key_set = client.get("/credentials/keys").get_json()
    assert key_set["keys"][0]["kty"] == "OKP" and "d" not in key_set["keys"][0]

    status = client.get("/credentials/status/1")
    assert status.status_code == 200 and status.mimetype == "application/vc+jwt"
    assert "public" in status.headers["Cache-Control"]
    # the same state gives the same bytes, so revalidation answers 304
    assert client.get("/credentials/status/1").data == status.data
    assert (
        client.get("/credentials/status/1", headers={"If-None-Match": status.headers["ETag"]})
    ).status_code == 304
    for missing in ("/credentials/status/0", "/credentials/status/2"):
        assert client.get(missing).status_code == 404


def test_status_list_flips_the_revoked_bit(app: Flask, make_user, completed: Completed) -> None:
    from lms.credentials.badges import is_revoked

    def bit() -> bool:
        token = app.test_client().get("/credentials/status/1").get_data(as_text=True)
        payload = json.loads(_unb64(token.split(".")[1]))
        return is_revoked(payload, issuing.status_position(completed.record_id)[1])

    assert bit() is False
    _revoke(app, make_user, completed.record_id)
    assert bit() is True


def test_status_positions_fill_one_list_then_the_next() -> None:
    size = issuing.STATUS_LIST_SIZE
    assert issuing.status_position(1) == (1, 0)
    assert issuing.status_position(size) == (1, size - 1)
    assert issuing.status_position(size + 1) == (2, 0)


# --- the command against the published URLs ------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server, for the command to fetch from."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_cli_fetches_the_published_key_and_status_list(
    app: Flask, make_user, completed: Completed, served: str, tmp_path: Path
) -> None:
    credential_file = tmp_path / "credential.json"
    trainee = _client_for(app, completed.trainee_email)
    credential_file.write_bytes(trainee.get(f"/records/{completed.record_id}/credential.json").data)
    status_url = f"{served}/credentials/status/1"
    for keys_url in (f"{served}/credentials/keys", f"{served}/credentials/issuer"):
        assert _cli(credential_file, "--keys", keys_url, "--status", status_url) == (0, "valid\n")
    _revoke(app, make_user, completed.record_id)
    assert _cli(
        credential_file, "--keys", f"{served}/credentials/keys", "--status", status_url
    ) == (
        1,
        "INVALID: revoked\n",
    )
    code, output = _cli(credential_file, "--keys", f"{served}/nothing-here")
    assert code == 2 and "cannot fetch" in output


def test_signing_again_gives_the_same_credential(app: Flask, completed: Completed) -> None:
    """A record signed lazily by two racing downloads stores the same bytes either way."""
    settings = issuing.settings_for(app)
    with new_session(app) as session:
        record = session.get(CompletionRecord, completed.record_id)
        assert record.credential_jwt is None  # issued without an app: signed on download
        first = issuing.sign_record(record, settings)
        second = issuing.sign_record(record, settings)
    assert first == second
    assert _download(_client_for(app, completed.trainee_email), completed.record_id) == first
