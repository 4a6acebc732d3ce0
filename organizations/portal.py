"""What every portal view needs: who is acting, and the gate in front of SME pages.

Portal users are session users; each belongs to one organisation (its first membership,
``selectors.acting_organization``). Tenant reads in views go through selectors that take
that organisation; a domain ``NotFound`` becomes the portal's 404 page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django_htmx.http import HttpResponseClientRedirect

from core.errors import NotFound

from .models import Membership, Organization
from .selectors import acting_organization

_UNSET = object()


def organization_of(request: HttpRequest) -> Organization | None:
    """The acting organisation of the request's user, looked up once per request."""
    cached = getattr(request, "_portal_organization", _UNSET)
    if cached is _UNSET:
        cached = acting_organization(request.user)
        request._portal_organization = cached
    return cached


def login_required(view: Callable) -> Callable:
    """Django's ``login_required``, and for an htmx request of an anonymous visitor (a
    free slot of the week page clicked, say) an ``HX-Redirect`` to the login page, with the
    URL asked for as ``next``: the whole page goes there, rather than the login page being
    swapped into a part of the page."""
    gate = django_login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.headers.get("HX-Request") == "true" and not request.user.is_authenticated:
            return HttpResponseClientRedirect(
                redirect_to_login(request.get_full_path())["Location"])
        return gate(request, *args, **kwargs)

    return wrapper


def sme_required(view: Callable) -> Callable:
    """Logged-in members of an SME only; sets ``request.organization``. Anyone else sees
    a page saying what the portal is for (403), anonymous users go to the login page."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        organization = organization_of(request)
        if organization is None or organization.kind != Organization.Kind.SME:
            return render(request, "portal/not_sme.html", {"organization": organization},
                          status=403)
        request.organization = organization
        return view(request, *args, **kwargs)

    return wrapper


def organization_required(view: Callable) -> Callable:
    """Logged-in members of any organisation (its own page: members and invitations); sets
    ``request.organization``. A person who belongs to none is told how to join (403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        organization = organization_of(request)
        if organization is None:
            return render(request, "portal/not_sme.html", {"organization": None}, status=403)
        request.organization = organization
        return view(request, *args, **kwargs)

    return wrapper


def member_required(view: Callable) -> Callable:
    """Logged-in users; ``request.organization`` is their organisation or None."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.organization = organization_of(request)
        return view(request, *args, **kwargs)

    return wrapper


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """Another organisation's object, or none at all: the same 404 page (invariant 2)."""
    try:
        yield
    except NotFound as exc:
        raise Http404(exc.message) from None


def is_admin(request: HttpRequest) -> bool:
    organization = organization_of(request)
    if organization is None:
        return False
    return Membership.objects.filter(user=request.user, organization=organization,
                                     role=Membership.Role.ADMIN).exists()


def operator_required(view: Callable | None = None, *, admin: bool = False) -> Callable:
    """The gate in front of operators' pages (the console, and the money pages under it that
    ``pricing`` and ``billing`` serve): members of a flagship firm; with ``admin=True`` its
    admins only. Sets ``request.organization`` and ``request.is_org_admin``. Anonymous
    visitors go to the login page; anyone else is told what the console is for (403)."""

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
