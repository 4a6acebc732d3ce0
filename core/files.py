"""Stored files handed to a browser: one way to answer with a file from MEDIA_ROOT.

Every download (booking attachments, equipment photos and documents, dataset packages)
goes through :func:`file_response`: a file the database knows but the disk lost is "not
found" (404), never a 500; the browser is told not to guess a type (nosniff); a download
is ``Content-Disposition: attachment`` and sandboxed, so nothing stored is ever rendered
in the site's origin."""

from __future__ import annotations

import os
from typing import IO

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404


def file_response(stored: FieldFile | IO[bytes] | str | os.PathLike, *, content_type: str,
                  filename: str | None = None, download: bool = True,
                  cache: str = "private, no-store", missing: str = "No such file.",
                  block_size: int | None = None) -> FileResponse:
    """``stored`` as a response: a download named ``filename`` (or shown inline, only for
    images we re-encoded ourselves, with ``download=False``). ``stored`` is a stored file
    (a FileField's value), an open binary file (closed when the response is sent) or a path
    on disk; a file that is not there is a 404."""
    if isinstance(stored, FieldFile) and not stored:
        raise Http404(missing)
    try:
        if isinstance(stored, FieldFile):
            handle = stored.open("rb")
        elif isinstance(stored, str | os.PathLike):
            handle = open(stored, "rb")  # noqa: SIM115 - closed by the response when sent
        else:
            handle = stored
    except (FileNotFoundError, IsADirectoryError):
        raise Http404(missing) from None
    response = FileResponse(handle, as_attachment=download, filename=filename or "",
                            content_type=content_type)
    if block_size:
        response.block_size = block_size
    response["X-Content-Type-Options"] = "nosniff"
    if download:
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = cache
    return response
