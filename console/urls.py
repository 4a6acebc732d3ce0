"""The console's pages under /console/. Each area keeps its routes in its own module."""

from django.urls import include, path

from . import floor_urls, qualification_urls, setup_urls

app_name = "console"

urlpatterns = [
    path("", include(floor_urls)),  # timeline, requests, check-in, no-shows, maintenance
    path("", include(setup_urls)),  # equipment, agreements, webhooks, API keys, reports
    path("", include(qualification_urls)),  # qualification requests and grants
]
