from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from bookings.feeds.views import calendar_feed
from core.api import api_not_found
from core.views import problem_or_html_404, problem_or_html_500
from organizations.views import admin_login
from trials.views import demo_gateway, demo_university_webhook

from .api import extra_urlpatterns, router
from .health import healthz, readyz

urlpatterns = [
    # Staff log in through allauth (its rate limits and MFA), not Django's admin form.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include([*extra_urlpatterns, *router.urls])),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file: no inline script, so the
    # docs run under the Content Security Policy.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("calendar/<token:token>.ics", calendar_feed, name="calendar-feed"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    re_path(r"^api/", api_not_found),  # unknown API paths: problem+json, even with DEBUG on
    path("i18n/", include("django.conf.urls.i18n")),  # the portal's language switcher
    path("", include("equipment.urls")),  # portal: catalog pages
    path("", include("bookings.urls")),  # portal: search, calendar, booking, my bookings
    path("", include("trials.urls")),  # portal: results, charts, consent
    path("", include("organizations.urls")),  # portal: organisation, invitations
    path("console/", include("console.urls")),  # portal: the hub operators' console
    path("console/", include("pricing.console_urls")),  # console: rate cards
    path("console/", include("billing.console_urls")),  # console: requests, statements, claims
    path("", include("pricing.urls")),  # portal: quotes, vouchers
    path("", include("billing.urls")),  # portal: service requests, statements
    path("", include("core.urls")),
]

if settings.DEMO_ENDPOINTS:  # synthetic equipment data and a demo university's receiver
    urlpatterns[-2:-2] = [
        path("demo-gateway/<int:equipment_id>/", demo_gateway, name="demo-gateway"),
        path("demo-university/<slug:university_slug>/webhook/", demo_university_webhook,
             name="demo-university-webhook"),
    ]

handler404 = problem_or_html_404
handler500 = problem_or_html_500
