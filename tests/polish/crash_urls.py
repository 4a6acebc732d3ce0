"""A URLconf for tests/polish/test_error_pages.py: the project's, plus a page that crashes."""

from django.urls import path

from testbed.urls import handler404, handler500
from testbed.urls import urlpatterns as project_urlpatterns


def crash(request):
    raise RuntimeError("a deliberate crash for the error page test")


urlpatterns = [path("polish-crash/", crash), *project_urlpatterns]

__all__ = ["handler404", "handler500", "urlpatterns"]
