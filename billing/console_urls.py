"""The operators' money pages under /console/ (namespace ``billing-console``)."""

from django.urls import include, path

from .claims import console_urls as claims_urls
from .requests import console_urls as requests_urls
from .statements import console_urls as statements_urls

app_name = "billing-console"

urlpatterns = [
    path("", include(requests_urls)),
    path("", include(statements_urls)),
    path("", include(claims_urls)),
]
