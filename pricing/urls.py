"""Portal pages of pricing: quotes and the SME's vouchers."""

from django.urls import path

from . import views

app_name = "pricing"

urlpatterns = [
    path("catalog/equipment/<int:pk>/quote/", views.quote_new, name="quote-new"),
    path("quotes/", views.my_quotes, name="quotes"),
    path("quotes/<int:pk>/", views.quote_detail, name="quote"),
    path("vouchers/", views.vouchers, name="vouchers"),
]
