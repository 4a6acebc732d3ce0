"""Console routes: floor (see console/urls.py) — today, the timeline, the queue of
requests, one booking and its moves, no-shows, maintenance windows."""

from django.urls import path

from . import trials
from .floor import actions, maintenance, pages, timeline

urlpatterns: list = [
    path("", pages.home, name="home"),
    path("timeline/", timeline.timeline, name="timeline"),
    path("requests/", pages.requests, name="requests"),
    path("no-shows/", pages.no_shows, name="no_shows"),
    path("bookings/<int:pk>/", pages.booking, name="booking"),
    path("bookings/<int:pk>/approve/", actions.approve, name="approve"),
    path("bookings/<int:pk>/reject/", actions.reject, name="reject"),
    path("bookings/<int:pk>/check-in/", actions.check_in, name="check_in"),
    path("bookings/<int:pk>/complete/", actions.complete, name="complete"),
    path("bookings/<int:pk>/no-show/", actions.no_show, name="no_show"),
    path("maintenance/", maintenance.maintenance, name="maintenance"),
    path("maintenance/<int:pk>/delete/", maintenance.maintenance_delete, name="maintenance_delete"),
    # A booking's trial: status, usage, gaps, results, the live panel, the readings as CSV.
    path("trials/<int:pk>/", trials.trial, name="trial"),
    path("trials/<int:pk>/live/", trials.trial_live, name="trial_live"),
    path("trials/<int:pk>/measurements.csv", trials.trial_csv, name="trial_csv"),
]
