"""``lms credentials``: commands for verifiable credentials.

``verify`` needs no application (no database, no configuration), so it is declared with
``with_appcontext=False``: anyone with the credential file and the issuer's published key
set can run it, offline with downloaded files or against the issuer's URLs.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click
from flask.cli import AppGroup

from lms.credentials.badges import StatusListChecker, unwrap, verify_credential
from lms.credentials.keys import SigningKeyError, parse_key_set

credentials_group = AppGroup("credentials", help="Verifiable credentials (Open Badges 3.0).")


#: Published documents are small; a larger answer is not a key set or a status list.
MAX_FETCH_BYTES = 4 * 1024 * 1024
FETCH_TIMEOUT = 15


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def _read_source(source: str, param: str) -> bytes:
    """The bytes of a local file, or of an http(s) URL (the issuer's published copy)."""
    if not _is_url(source):
        try:
            return Path(source).read_bytes()
        except OSError as error:
            raise click.BadParameter(
                f"cannot read {source}: {error.strerror}", param_hint=param
            ) from None
    # http(s) only (checked above); urllib follows redirects to http(s) and ftp only.
    request = urllib.request.Request(source, headers={"Accept": "application/json, */*"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data = response.read(MAX_FETCH_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise click.BadParameter(f"cannot fetch {source}: {error}", param_hint=param) from None
    if len(data) > MAX_FETCH_BYTES:
        raise click.BadParameter(f"{source} is larger than expected", param_hint=param)
    return data


def _read_keys(source: str) -> list:
    try:
        document = json.loads(_read_source(source, "--keys").decode("utf-8-sig"))
    except ValueError as error:
        raise click.BadParameter(f"cannot read {source}: {error}", param_hint="--keys") from None
    if isinstance(document, dict) and "kty" in document:
        document = {"keys": [document]}  # a single JWK
    elif isinstance(document, dict) and document.get("type") == "Multikey":
        document = {"verificationMethod": [document]}  # a single Multikey
    try:
        return parse_key_set(document)
    except SigningKeyError as error:
        raise click.BadParameter(f"{source}: {error}", param_hint="--keys") from None


@credentials_group.command("verify", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keys",
    "--key-file",
    "keys_source",
    required=True,
    metavar="FILE|URL",
    help="The issuer's published key set: a file or its URL (key set document, JWKS, JWK, "
    "Multikey, or the issuer profile).",
)
@click.option(
    "--status",
    "status_sources",
    multiple=True,
    metavar="FILE|URL",
    help="A status list credential (a downloaded file or its URL), to check revocation "
    "(repeatable).",
)
def verify_command(file: Path, keys_source: str, status_sources: tuple[str, ...]) -> None:
    """Check a credential FILE; print "valid" or "INVALID: reason" (exit 0 or 1).

    With files only, it runs offline; with URLs it fetches the issuer's published copies.
    """
    keys = _read_keys(keys_source)
    checker = None
    if status_sources:
        lists = [unwrap(_read_source(source, "--status")) for source in status_sources]
        checker = StatusListChecker(lists, keys)
    result = verify_credential(unwrap(file.read_bytes()), keys, status_checker=checker)
    if not result.valid:
        click.echo(f"INVALID: {result.reason}")
        sys.exit(1)
    click.echo("valid")
    if not result.status_checked and "credentialStatus" in (result.credential or {}):
        click.echo("note: revocation status not checked (no --status file given)", err=True)


@credentials_group.command("rotate-key")
def rotate_key_command() -> None:
    """Make a new signing key; the old one stays published so its credentials verify."""
    from flask import current_app  # noqa: PLC0415 - only this command needs the app

    from lms.credentials.issuing import settings_for  # noqa: PLC0415
    from lms.credentials.keys import rotate  # noqa: PLC0415

    settings = settings_for(current_app)
    if settings.key_file is not None:
        raise click.ClickException(
            "LMS_SIGNING_KEY_FILE is set: put the new key in that file instead "
            "(the old key stays published)."
        )
    key = rotate(settings.key_dir)
    click.echo(f"New signing key: {settings.issuer_url}#{key.key_id}")
