"""``lms credentials``: commands for verifiable credentials.

``verify`` works offline and needs no application (no database, no configuration), so it
is declared with ``with_appcontext=False``: anyone with the credential file and the
issuer's published key set can run it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from lms.credentials.badges import StatusListChecker, unwrap, verify_credential
from lms.credentials.keys import SigningKeyError, parse_key_set

credentials_group = AppGroup("credentials", help="Verifiable credentials (Open Badges 3.0).")


def _read_keys(path: Path) -> list:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--keys") from None
    if isinstance(document, dict) and "kty" in document:
        document = {"keys": [document]}  # a single JWK
    elif isinstance(document, dict) and document.get("type") == "Multikey":
        document = {"verificationMethod": [document]}  # a single Multikey
    try:
        return parse_key_set(document)
    except SigningKeyError as error:
        raise click.BadParameter(f"{path}: {error}", param_hint="--keys") from None


@credentials_group.command("verify", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keys",
    "--key-file",
    "keys_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The issuer's published key set (JSON: key set document, JWKS, JWK or Multikey).",
)
@click.option(
    "--status",
    "status_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A downloaded status list credential, to check revocation (repeatable).",
)
def verify_command(file: Path, keys_file: Path, status_files: tuple[Path, ...]) -> None:
    """Check a credential FILE offline; print "valid" or "INVALID: reason" (exit 0 or 1)."""
    keys = _read_keys(keys_file)
    checker = None
    if status_files:
        checker = StatusListChecker([unwrap(p.read_bytes()) for p in status_files], keys)
    result = verify_credential(unwrap(file.read_bytes()), keys, status_checker=checker)
    if not result.valid:
        click.echo(f"INVALID: {result.reason}")
        sys.exit(1)
    click.echo("valid")
    if not result.status_checked and "credentialStatus" in (result.credential or {}):
        click.echo("note: revocation status not checked (no --status file given)", err=True)
