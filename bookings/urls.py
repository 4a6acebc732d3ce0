from django.urls import include, path

from .portal import views

app_name = "bookings"

urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/equipment/<int:pk>/calendar/", views.calendar, name="calendar"),
    path("catalog/equipment/<int:pk>/book/", views.book, name="book"),
    path("bookings/", views.my_bookings, name="list"),
    path("bookings/<int:pk>/", views.booking_detail, name="detail"),
    path("bookings/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("bookings/<int:pk>/booking.ics", views.booking_calendar_file, name="ics"),
    path("", include("bookings.portal.urls")),  # SME basics (issue 15, part 4)
]
