"""The certificate job against a real S3 server (SeaweedFS): the PDF lands in the bucket and
the trainee's download is a presigned URL straight to it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
import requests
from flask import Flask

from lms.certificates.models import CertificateStatus
from tests.certificates.conftest import complete, pdf_lines
from tests.certificates.test_certificates import certificate, download_path
from tests.conftest import login
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, Weed, s3_client


@pytest.fixture
def s3_app(app: Flask, app_factory: Callable[..., Flask], weed: Weed) -> Flask:
    return app_factory(
        LMS_STORAGE="s3",
        LMS_S3_ENDPOINT_URL=weed.endpoint_url,
        LMS_S3_BUCKET=S3_BUCKET,
        LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
        LMS_S3_SECRET_KEY=S3_SECRET_KEY,
        JOBS_IMMEDIATE=True,
    )


def test_the_certificate_is_stored_in_the_bucket_and_downloaded_from_it(
    s3_app: Flask, make_user, weed: Weed
) -> None:
    done = complete(s3_app, make_user, name="Mohammed Abdullah", native_name="محمد عبد الله")

    made = certificate(s3_app, done.record_id)
    assert made.status == CertificateStatus.READY
    body = s3_client(weed.endpoint_url).get_object(Bucket=S3_BUCKET, Key=made.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == made.sha256

    client = s3_app.test_client()
    login(client, done.trainee_email)
    response = client.get(download_path(done.record_id))
    assert response.status_code == 303
    signed = response.headers["Location"]
    assert signed.startswith(weed.endpoint_url) and "X-Amz-Signature=" in signed
    fetched = requests.get(signed, timeout=30)
    assert fetched.status_code == 200 and fetched.content == body
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert "Mohammed Abdullah" in pdf_lines(fetched.content)
    assert requests.get(signed.split("?")[0], timeout=30).status_code == 403  # unsigned
