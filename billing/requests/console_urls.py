"""Console pages of billing.requests (operators), included by billing/console_urls.py."""

from django.urls import path

from . import console

urlpatterns = [
    path("service-requests/", console.queue, name="requests"),
    path("service-requests/<int:pk>/", console.detail, name="request-detail"),
    path("service-requests/<int:pk>/refuse/", console.refuse, name="request-refuse"),
]
