"""Public catalogue pages: one piece of equipment (photos, specs, documents, rate, rules in
plain words, status) and one hub (address, opening hours, its equipment), open to anyone
signed in or not; booking needs an account (the booking pages send visitors to log in and
back). The search page, which also asks the booking engine for free time, is
``bookings.portal.views.catalog``.

Photos and documents are served here, never from MEDIA directly: photos (re-encoded JPEGs)
inline, documents always as downloads."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from core.files import file_response

from . import selectors, wording
from .models import Equipment

PHOTO_CACHE_SECONDS = 24 * 3600


def spec_rows(equipment: Equipment) -> list[tuple[str, str]]:
    """The specs as (label, value) rows in the reader's language: the dictionary's label
    (``SpecLabel``) and unit where the key has one, else the key in words."""
    rows = []
    for key, (label, value) in zip(wording.specs_of(equipment), wording.spec_rows(equipment),
                                   strict=True):
        found = selectors.term("spec", str(key))
        if found is not None:
            label, unit = found
            value = f"{value} {unit}" if unit else value
        rows.append((label, value))
    return rows


@require_safe
def equipment_detail(request, pk: int):
    equipment = selectors.equipment_list().filter(pk=pk).first()
    if equipment is None:
        raise Http404("No such equipment.")
    return render(request, "catalog/equipment_detail.html", {
        "equipment": equipment,
        "hub": equipment.hub,
        "rules": wording.rules(equipment),
        "specs": spec_rows(equipment),
        "hours": wording.opening_hours(equipment.hub),
        "photos": list(selectors.equipment_photos(equipment)),
        "documents": list(selectors.equipment_documents(equipment)),
        "maintenance": selectors.maintenance_now(equipment),
        "bookable": equipment.status == Equipment.Status.AVAILABLE,
    })


@require_safe
def hub_detail(request, slug: str):
    hub = selectors.hub_list().filter(slug=slug).first()
    if hub is None:
        raise Http404("No such hub.")
    return render(request, "catalog/hub_detail.html", {
        "hub": hub,
        "hours": wording.opening_hours(hub),
        "equipment": selectors.equipment_list().filter(hub=hub).exclude(
            status=Equipment.Status.RETIRED),
    })


@require_safe
def photo(request, pk: int, size: str):
    """A photo (``size`` "full") or its thumbnail ("thumb"): JPEGs the upload re-encoded."""
    found = selectors.photo(pk)
    if found is None or size not in ("thumb", "full"):
        raise Http404("No such photo.")
    stored = found.thumbnail if size == "thumb" else found.image
    # Shown inline: JPEGs the upload re-encoded, never the uploaded bytes.
    return file_response(stored, content_type="image/jpeg", download=False,
                         cache=f"public, max-age={PHOTO_CACHE_SECONDS}", missing="No such photo.")


@require_safe
def document(request, pk: int):
    """A document, always as a download (``Content-Disposition: attachment``), never shown
    inline: the browser does not open it in the site's origin."""
    found = selectors.document(pk)
    if found is None:
        raise Http404("No such document.")
    return file_response(found.file, filename=found.filename, content_type="application/pdf",
                         cache="public, max-age=3600", missing="No such document.")

