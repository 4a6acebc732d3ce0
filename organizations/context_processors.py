"""Template context for every portal page: the organisation the user acts for."""

from django.utils.functional import SimpleLazyObject

from .portal import organization_of


def portal(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"acting_organization": None}
    # Lazy: pages that never show it (the admin console) make no query for it.
    return {"acting_organization": SimpleLazyObject(lambda: organization_of(request))}
