"""The SME portal's routes for issue 15 part 4 (moving, attachments, the price preview,
qualification requests, calendar feed and statements); included by ``bookings.urls``."""

from django.urls import path

from . import account, views

urlpatterns = [
    path("catalog/equipment/<int:pk>/price/", views.price, name="price"),
    path(
        "catalog/equipment/<int:pk>/qualification/",
        views.request_qualification,
        name="request-qualification",
    ),
    path("qualifications/", views.qualifications, name="qualifications"),
    path("bookings/<int:pk>/reschedule/", views.reschedule, name="reschedule"),
    path("bookings/<int:pk>/attachments/", views.attach, name="attach"),
    path(
        "bookings/<int:pk>/attachments/<int:attachment_pk>/",
        views.attachment_file,
        name="attachment",
    ),
    path("organisation/calendar-feed/", account.calendar_feed, name="feed"),
    path("organisation/statements/", account.statements, name="statements"),
    path(
        "organisation/statements/<int:year>-<int:month>.csv",
        account.statement_csv,
        name="statement-csv",
    ),
]
