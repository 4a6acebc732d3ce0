"""Reading the PDFs Testbed makes (core/pdf.py) in tests: their text, as poppler's
``pdftotext -layout`` extracts it, so a test asserts on what a reader sees (Chinese
included), not on the HTML that went in.

pdftotext and a CJK font are system packages that `make install` brings (its
``system-deps`` step). Where they are missing a test that needs them is skipped, saying
what to install; on CI (``CI`` set), where `make install` has run, it fails instead, so a
missing install step cannot pass as a green run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from core.pdf import cjk_font_families

ON_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _missing(what: str) -> None:
    message = f"{what} is not installed: `make system-deps` installs it"
    if ON_CI:
        pytest.fail(f"{message} (and `make install` on CI runs it)")
    pytest.skip(message)


def require_cjk_font() -> None:
    """Skip (fail on CI) unless fontconfig lists a font that covers Chinese."""
    if not cjk_font_families():
        _missing("a CJK font (fonts-noto-cjk)")


def pdftotext(data: bytes) -> str:
    """The text of the PDF ``data``, laid out as on the page (``pdftotext -layout``)."""
    binary = shutil.which("pdftotext")
    if binary is None:
        _missing("pdftotext (poppler-utils)")
    result = subprocess.run([binary, "-layout", "-enc", "UTF-8", "-", "-"], input=data,
                            capture_output=True, timeout=60, check=True)
    return result.stdout.decode("utf-8")


def page_count(data: bytes) -> int:
    """How many pages the PDF ``data`` has (form feeds between pdftotext's pages)."""
    return pdftotext(data).rstrip("\f").count("\f") + 1
