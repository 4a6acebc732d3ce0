"""The gate in front of console pages: logged-in members of a flagship firm, in any role
(operators also hear about its hubs by e-mail; see ``organizations.services.ROLES``); some
actions are for the organisation's admins only.

Anonymous visitors go to the login page; members of an SME or a university are told what
the console is for (403). Objects of another operator are "not found" (404): console
views read through selectors that take ``request.organization``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from organizations.models import Organization
from organizations.portal import (
    operator_required,  # noqa: F401  (re-exported)
    organization_of,
)


def university_required(view: Callable) -> Callable:
    """Members of a university (any role): the datasets released to it. Sets
    ``request.organization``. Anyone else is told what these pages are for (403);
    anonymous visitors go to the login page."""

    @never_cache
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        organization = organization_of(request)
        if organization is None or organization.kind != Organization.Kind.UNIVERSITY:
            return render(request, "console/setup/not_university.html",
                          {"organization": organization}, status=403)
        request.organization = organization
        return view(request, *args, **kwargs)

    return wrapper
