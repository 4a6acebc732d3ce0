"""The gate in front of console pages: logged-in members of a flagship firm (operator
role or admin role); some actions are for the organisation's admins only.

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
from organizations.portal import is_admin, organization_of


def operator_required(view: Callable | None = None, *, admin: bool = False) -> Callable:
    """Members of a flagship firm; with ``admin=True`` its admins only. Sets
    ``request.organization`` and ``request.is_org_admin``."""

    def decorate(view: Callable) -> Callable:
        @never_cache  # the organisation's own data, secrets shown once: never kept by caches
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            organization = organization_of(request)
            if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
                return render(request, "console/not_operator.html",
                              {"organization": organization}, status=403)
            request.organization = organization
            request.is_org_admin = is_admin(request)
            if admin and not request.is_org_admin:
                return render(request, "console/admins_only.html",
                              {"organization": organization}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


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
