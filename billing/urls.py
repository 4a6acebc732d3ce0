"""The portal's money pages (SMEs): service requests and statements (claims are the
providers', in the console). Each area keeps its routes in its own module."""

from django.urls import include, path

from .requests import urls as requests_urls
from .statements import urls as statements_urls

app_name = "billing"

urlpatterns = [
    path("", include(requests_urls)),
    path("", include(statements_urls)),
]
