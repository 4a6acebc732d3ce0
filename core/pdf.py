"""The one way Testbed makes a PDF (monthly statements, settlement-claim summaries): a
Django template rendered to HTML, laid out by WeasyPrint.

Documents extend ``templates/pdf/base.html`` (A4, margins, "page X of Y" in the active
language, a font stack that picks a Chinese font, tabular figures for amounts) and fill
its ``title`` and ``content`` blocks.

A PDF needs nothing from the network: the URL fetcher given to WeasyPrint refuses every
URL but ``file:`` paths inside the project's static directories (and inline ``data:``
URLs, which fetch nothing), so no template, nor text an organisation typed into one, can
make the server call out (DESIGN.md invariant 8; the guard for the calls the server does
make is core/outbound.py). A refused image or stylesheet is left out and logged; the
document still renders.

Chinese text needs a CJK font on the machine (`make system-deps` installs Noto Sans CJK);
without one the glyphs come out as empty boxes, so the first rendering in a process logs
an error saying so instead of failing the download.
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# First match wins; "Noto Sans CJK SC" is what `make system-deps` installs
# (fonts-noto-cjk). Kept in step with static/pdf/document.css.
CJK_FONT_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei",
                     "Source Han Sans SC")
# The base template's stylesheet, relative to the static directory the fetcher serves.
STYLESHEET = "pdf/document.css"
# A refused URL is quoted in its error (which WeasyPrint logs) up to this many characters.
_LOGGED_URL = 200


class RefusedURL(ValueError):
    """A document asked for something other than a static file; WeasyPrint catches it,
    logs it and leaves the resource out."""


def static_roots() -> tuple[Path, ...]:
    """The directories a document may read files from: the project's static sources and,
    when set, the collected ``STATIC_ROOT``. The first one is the documents' base URL."""
    roots = []
    for entry in settings.STATICFILES_DIRS:
        path = entry[1] if isinstance(entry, list | tuple) else entry
        roots.append(Path(path).resolve())
    if settings.STATIC_ROOT:
        roots.append(Path(settings.STATIC_ROOT).resolve())
    return tuple(roots)


def static_file(url: str) -> Path:
    """The file a ``file:`` URL names, if it lies inside a static directory (symbolic
    links and ``..`` resolved first); :class:`RefusedURL` otherwise."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise RefusedURL(f"only static files may be read by a PDF: {url[:_LOGGED_URL]}")
    path = Path(url2pathname(parts.path)).resolve()
    if not any(path.is_relative_to(root) for root in static_roots()) or not path.is_file():
        raise RefusedURL(f"not a file in the static directory: {url[:_LOGGED_URL]}")
    return path


@cache
def _fetcher_class():
    # WeasyPrint is imported when a PDF is first made, not when Django starts.
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """Serves static files and inline ``data:`` URLs; refuses everything else
        (http, https, ftp, other files) without opening a connection."""

        def fetch(self, url, headers=None):
            if url[:5].lower() == "data:":
                # Inline data is decoded in-process by urllib's data handler.
                return super().fetch(url, headers)
            # Anything else raises RefusedURL, which WeasyPrint logs ("Failed to load
            # image at …") before going on without it.
            path = static_file(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    return StaticOnlyFetcher


@cache
def cjk_font_families() -> tuple[str, ...]:
    """Font families on this machine that cover Chinese, as fontconfig lists them (empty
    when none is, or when fontconfig's ``fc-list`` is not there to ask)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ()
    try:
        listed = subprocess.run(  # noqa: S603 - a fixed command, no input from users
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=10,
            check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(sorted({name.strip() for line in listed.splitlines()
                         for name in line.split(",") if name.strip()}))


@cache
def _check_cjk_font() -> None:
    """Once per process: say loudly that Chinese text will not show, without failing."""
    if not cjk_font_families():
        logger.error("pdf: no CJK font is installed (fontconfig lists none for :lang=zh); "
                     "Chinese text in PDFs will show as empty boxes. Install one of %s "
                     "(`make system-deps` installs fonts-noto-cjk).",
                     ", ".join(CJK_FONT_FAMILIES))


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")


def page_numbers_css() -> str:
    """The CSS ``content`` value of the footer, "Page X of Y" in the active language."""
    words = _css_string(_("Page %(page)s of %(pages)s"))
    return '"' + words % {"page": '" counter(page) "', "pages": '" counter(pages) "'} + '"'


def render_pdf(template_name: str, context: dict[str, Any], *, request=None) -> bytes:
    """``template_name`` rendered with ``context`` (and the request's context processors
    when ``request`` is given), as the bytes of a PDF, in the active language.

    The template extends ``pdf/base.html``; what it links to or shows must be static
    files (``{{ pdf.static }}`` is their base URL; relative URLs resolve there)."""
    from weasyprint import HTML

    _check_cjk_font()
    roots = static_roots()
    base_url = roots[0].as_uri() + "/"
    document = {
        "language": get_language() or settings.LANGUAGE_CODE,
        "static": base_url,
        "stylesheet": base_url + STYLESHEET,
        "page_numbers": mark_safe(page_numbers_css()),  # noqa: S308 - escaped by _css_string
    }
    html = render_to_string(template_name, {**context, "pdf": document}, request=request)
    return HTML(string=html, base_url=base_url, url_fetcher=_fetcher_class()()).write_pdf()
