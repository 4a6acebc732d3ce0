"""Console pages of pricing (operators): rate cards, under /console/."""

from django.urls import path

from . import console_views as views

app_name = "pricing-console"

urlpatterns = [
    path("rates/", views.rate_cards, name="rate-cards"),
    path("rates/<int:pk>/", views.card_detail, name="card"),
    path("rates/hubs/<slug:hub_slug>/new/", views.new_card, name="new-card"),
]
