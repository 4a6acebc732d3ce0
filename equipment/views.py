"""Portal catalog pages: one piece of equipment (specs, rate, rules in plain words) and
one hub (address, opening hours, its equipment). The search page, which also asks the
booking engine for free time, is ``bookings.portal.views.catalog``."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from organizations.portal import member_required

from . import selectors, wording


@member_required
def equipment_detail(request, pk: int):
    equipment = selectors.equipment_list().filter(pk=pk).first()
    if equipment is None:
        raise Http404("No such equipment.")
    return render(request, "catalog/equipment_detail.html", {
        "equipment": equipment,
        "hub": equipment.hub,
        "rules": wording.rules(equipment),
        "specs": wording.spec_rows(equipment),
        "hours": wording.opening_hours(equipment.hub),
    })


@member_required
def hub_detail(request, slug: str):
    hub = selectors.hub_list().filter(slug=slug).first()
    if hub is None:
        raise Http404("No such hub.")
    return render(request, "catalog/hub_detail.html", {
        "hub": hub,
        "hours": wording.opening_hours(hub),
        "equipment": selectors.equipment_list().filter(hub=hub),
    })
