"""Helpers for the certificate tests: a PDF's text, its fonts, its QR code."""

from __future__ import annotations

import io

import pypdf
import pypdfium2
import zxingcpp
from flask import Flask

from tests.credentials.conftest import Completed, complete_programme
from tests.storage.conftest import weed  # noqa: F401 - the SeaweedFS fixture, reused


def complete(app: Flask, make_user, **trainee_fields) -> Completed:
    """A trainee completes a programme inside ``app`` (whose job queue then gets the build)."""
    with app.app_context():
        return complete_programme(app, make_user, **trainee_fields)


def pdf_lines(data: bytes) -> list[str]:
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    return [line.strip() for line in page.extract_text().splitlines()]


def embedded_fonts(data: bytes) -> dict[str, str]:
    """Base font name (subset tag dropped) -> the key of its embedded font file."""
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    found = {}
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        files = [key for key in ("/FontFile", "/FontFile2", "/FontFile3") if key in descriptor]
        name = str(font["/BaseFont"]).split("+", 1)[-1]
        found[name] = files[0] if files else ""
    return found


def qr_texts(data: bytes) -> list[str]:
    """What the QR codes on the first page say, read from a rendering of it."""
    page = pypdfium2.PdfDocument(data)[0]
    image = page.render(scale=3).to_pil()
    return [result.text for result in zxingcpp.read_barcodes(image)]
