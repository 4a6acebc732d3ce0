"""Console routes: qualification requests (see console/urls.py)."""

from django.urls import path

from . import qualifications

urlpatterns = [
    path("qualifications/", qualifications.queue, name="qualifications"),
    path("qualifications/<int:pk>/grant/", qualifications.grant, name="qualification-grant"),
    path("qualifications/<int:pk>/refuse/", qualifications.refuse, name="qualification-refuse"),
]
