"""A university's datasets: the releases to it (``trials.sharing.releases_for_university``),
each with the terms it was released under and its data package."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.errors import valid_id
from core.files import file_response
from equipment.models import Category
from trials import sharing
from trials.packages import LICENSES, metadata, terms_of

from ..access import university_required


def _release(request, pk: int):
    key = valid_id(pk)
    found = (
        sharing.releases_for_university(request.organization).filter(pk=key).first()
        if key
        else None
    )
    if found is None:
        raise Http404(_("No such dataset."))
    return found


@university_required
def dataset_list(request):
    return render(
        request,
        "console/setup/datasets.html",
        {
            "releases": sharing.releases_for_university(request.organization).order_by(
                "-created", "-pk"
            ),
        },
    )


@university_required
def dataset_detail(request, pk: int):
    release = _release(request, pk)
    terms = terms_of(release)
    title, link = LICENSES.get(terms.get("license", ""), (terms.get("license", ""), ""))
    return render(
        request,
        "console/setup/dataset_detail.html",
        {
            "release": release,
            "terms": terms,
            "metadata": metadata(release),
            "license_title": title,
            "license_link": link,
            "categories": Category.objects.filter(pk__in=terms.get("categories") or []).order_by(
                "name"
            ),
            "version": release.consent.version if release.consent_id else None,
        },
    )


@university_required
def dataset_package(request, pk: int):
    """The data package as delivered (the API's ``/api/v1/datasets/{id}/package/``)."""
    release = _release(request, pk)
    response = file_response(release.package, filename=f"testbed-release-{release.pk}.zip",
                             content_type="application/zip", missing=_("No such dataset."))
    response["Digest"] = f"sha-256={release.sha256}"
    return response
