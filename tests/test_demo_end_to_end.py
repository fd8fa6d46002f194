"""The demo, end to end: a graduate's certificate and credential, and the sponsors' lists.

``lms demo`` leaves trainee4 with the sample programme WTE-2026 completed through the
real services (videos watched by beats, readings read, quizzes passed), and trainee5
with SWC-2027, the other sponsor's programme. Jobs run at once here, so the certificate
is built as ``lms serve``'s job threads would build it. Everything is then done as
people would: through the pages and downloads, the published key set and status list,
``lms credentials verify`` in a process of its own, and PyJWT as an independent verifier.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms.certificates.models import Certificate
from lms.credentials.badges import envelope
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from lms.demo import load_demo
from lms.programs.models import Programme
from tests.conftest import login
from tests.exports.test_libreoffice import convert, soffice

PASSWORD = "end-to-end-demo-password"
GRADUATE = "trainee4@kenshu.example.org"
OTHER_GRADUATE = "trainee5@kenshu.example.org"  # SWC-2027, the second sponsor's
STILL_STUDYING = ("trainee1@kenshu.example.org", "trainee2@kenshu.example.org")


@pytest.fixture
def demo(app_factory: Callable[..., Flask]) -> Flask:
    app = app_factory(JOBS_IMMEDIATE=True)
    load_demo(app, PASSWORD)
    return app


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, email, PASSWORD)
    assert response.status_code == 302, f"{email} cannot sign in"
    return client


def programme_id(app: Flask, code: str) -> int:
    with new_session(app) as session:
        found = session.scalar(select(Programme.id).where(Programme.code == code))
        assert found is not None
        return found


def path_of(url: str) -> str:
    """The app-relative path of one of the app's own absolute URLs."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def with_claims(token: str, claims: dict[str, Any]) -> str:
    """The token with its payload replaced and the original signature kept."""
    header, _payload, signature = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def token_in(document: dict[str, Any]) -> str:
    assert document["type"] == "EnvelopedVerifiableCredential"
    return document["id"].split(",", 1)[1]


def cli_verify(file: Path, keys: Path, status: Path) -> tuple[int, str]:
    """``lms credentials verify`` in a process of its own, offline, with downloaded files."""
    lms = Path(sys.executable).with_name("lms")
    result = subprocess.run(
        [
            str(lms),
            "credentials",
            "verify",
            str(file),
            "--keys",
            str(keys),
            "--status",
            str(status),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=file.parent,
        check=False,
    )
    return result.returncode, result.stdout.strip() or result.stderr.strip()


def pyjwt_verify(token: str, key_set: dict[str, Any]) -> dict[str, Any]:
    """PyJWT, with nothing of ours: the key by its ``kid`` from the published JWKS."""
    keys = jwt.PyJWKSet.from_dict(key_set)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    return jwt.decode(token, key=key.key, algorithms=["EdDSA"], options={"require": ["iss"]})


def test_a_graduate_downloads_a_certificate_and_a_credential_that_verify(
    demo: Flask, tmp_path: Path
):
    trainee = signed_in(demo, GRADUATE)
    page = trainee.get("/records")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    (record_id,) = {int(n) for n in re.findall(r"/records/(\d+)/credential\.json", html)}
    with new_session(demo) as session:
        record = session.get(CompletionRecord, record_id)
        assert record is not None and record.user.email == GRADUATE
        code, title = record.verification_code, record.programme.title
        assert record.programme.code == "WTE-2026"
        certificate = session.scalar(select(Certificate).where(Certificate.record_id == record_id))
        assert certificate is not None and certificate.status == "ready", certificate
    assert code in html and title in html

    # The PDF, through the signed URL the download answers with.
    download = trainee.get(f"/records/{record_id}/certificate.pdf")
    assert download.status_code == 303
    pdf = trainee.get(path_of(download.headers["Location"]))
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
    text = pdf_text(pdf.get_data())
    flat = " ".join(text.split())
    for expected in ("Bat-Erdene Gantulga", "Батэрдэнэ Гантулга", title, "WTE-2026", code):
        assert expected in flat, (expected, text)
    # Bilingual, English and the trainee's language (Japanese).
    assert "Certificate of Completion" in flat and "修了証" in flat, text

    # The other graduate's name, in Japanese, extracts as it was written.
    other = signed_in(demo, OTHER_GRADUATE)
    (other_id,) = {
        int(n)
        for n in re.findall(
            r"/records/(\d+)/credential\.json", other.get("/records").get_data(as_text=True)
        )
    }
    other_pdf = other.get(
        path_of(other.get(f"/records/{other_id}/certificate.pdf").headers["Location"])
    )
    other_text = " ".join(pdf_text(other_pdf.get_data()).split())
    assert "Haruto Suzuki" in other_text and "鈴木 陽翔" in other_text, other_text

    # The credential and what a verifier downloads from the issuer.
    credential = trainee.get(f"/records/{record_id}/credential.json")
    assert credential.status_code == 200
    credential_file = tmp_path / "credential.json"
    credential_file.write_bytes(credential.get_data())
    token = token_in(credential.get_json())
    claims = claims_of(token)
    status_url = claims["credentialStatus"]["statusListCredential"]
    public = demo.test_client()  # a verifier: no account
    keys_file, status_file = tmp_path / "keys.json", tmp_path / "status.jwt"
    keys_file.write_bytes(public.get("/credentials/keys").get_data())
    status_file.write_bytes(public.get(path_of(status_url)).get_data())
    key_set = json.loads(keys_file.read_text())

    assert cli_verify(credential_file, keys_file, status_file) == (0, "valid")
    verified = pyjwt_verify(token, key_set)
    subject = json.dumps(verified, ensure_ascii=False)
    assert "Bat-Erdene Gantulga" in subject and title in subject

    # Any change to a claim breaks the signature, for both verifiers.
    for change in (
        lambda c: c["credentialSubject"]["identifier"][0].update(identityHash="Someone Else"),
        lambda c: c["credentialSubject"].update(activityEndDate="2020-01-01T00:00:00Z"),
        lambda c: c["credentialStatus"].update(statusListIndex="4095"),  # dodge a revocation
    ):
        forged = json.loads(json.dumps(claims))
        change(forged)
        assert forged != claims
        forged_token = with_claims(token, forged)
        forged_file = tmp_path / "forged.json"
        forged_file.write_text(json.dumps(envelope(forged_token)))
        status, output = cli_verify(forged_file, keys_file, status_file)
        assert status == 1 and output.startswith("INVALID"), output
        with pytest.raises(jwt.InvalidSignatureError):
            pyjwt_verify(forged_token, key_set)

    # An admin revokes the record: the published status list and the public page say so.
    admin = signed_in(demo, "admin@kenshu.example.org")
    revoked = admin.post(f"/admin/records/{record_id}/revoke", data={"reason": "Demo check"})
    assert revoked.status_code == 302
    status_file.write_bytes(public.get(path_of(status_url)).get_data())
    status, output = cli_verify(credential_file, keys_file, status_file)
    assert status == 1 and "revoked" in output.lower(), output
    check = public.get(f"/verify/{code}")
    assert check.status_code == 200
    assert "status-revoked" in check.get_data(as_text=True)
    assert "Demo check" in check.get_data(as_text=True)


def test_each_demo_sponsor_downloads_its_own_completion_lists_only(demo: Flask, tmp_path: Path):
    wte, swc = programme_id(demo, "WTE-2026"), programme_id(demo, "SWC-2027")
    sponsor1 = signed_in(demo, "sponsor1@kenshu.example.org")
    sponsor2 = signed_in(demo, "sponsor2@kenshu.example.org")
    downloads: dict[str, bytes] = {}
    for fmt in ("csv", "xlsx"):
        own = sponsor1.get(f"/sponsor/programmes/{wte}/completions.{fmt}")
        assert own.status_code == 200
        downloads[f"wte.{fmt}"] = own.get_data()
        # The other sponsor is refused sponsor 1's lists, and its own hold none of them.
        assert sponsor2.get(f"/sponsor/programmes/{wte}/completions.{fmt}").status_code in (
            403,
            404,
        )
        theirs = sponsor2.get(f"/sponsor/programmes/{swc}/completions.{fmt}")
        assert theirs.status_code == 200
        downloads[f"swc.{fmt}"] = theirs.get_data()
    swc_csv = downloads["swc.csv"].decode("utf-8-sig")
    assert OTHER_GRADUATE in swc_csv and "鈴木 陽翔" in swc_csv
    for email in (GRADUATE, *STILL_STUDYING):
        assert email not in swc_csv
        assert email.encode() not in downloads["swc.xlsx"]  # XLSX: zipped, checked below too

    binary = soffice()
    profile = tmp_path / "lo-profile"
    for name, data in downloads.items():
        source = tmp_path / name
        source.write_bytes(data)
        table = convert(
            binary, source, profile, infilter="CSV:44,34," if name.endswith("csv") else None
        )
        header, rows = table[0], [row for row in table[1:] if any(row)]
        assert header[0] == "Trainee name", name  # the byte-order mark is not in the cell
        emails = [row[header.index("Email")] for row in rows]
        if name.startswith("wte"):
            assert emails == [GRADUATE], (name, table)
            (row,) = rows
            assert row[header.index("Name in own script")] == "Батэрдэнэ Гантулга"
            assert row[header.index("Country")] == "MN"
            assert row[header.index("Programme code")] == "WTE-2026"
            assert row[header.index("Record status")] == "valid"
        else:
            assert emails == [OTHER_GRADUATE], (name, table)
            assert rows[0][header.index("Name in own script")] == "鈴木 陽翔"


def test_running_the_demo_again_changes_nothing(demo: Flask):
    def state() -> list[tuple[Any, ...]]:
        with new_session(demo) as session:
            return list(
                session.execute(
                    select(
                        CompletionRecord.id,
                        CompletionRecord.user_id,
                        CompletionRecord.verification_code,
                        CompletionRecord.completed_at,
                    ).order_by(CompletionRecord.id)
                )
            )

    before = state()
    assert len(before) == 2
    load_demo(demo, PASSWORD)
    assert state() == before
