"""Portal pages of billing.statements (SME side), included by billing/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("statements/", views.statement_list, name="statements"),
    path("statements/<int:pk>/", views.statement_detail, name="statement"),
    path("statements/<int:pk>/pdf/", views.statement_pdf, name="statement-pdf"),
    path("statements/<int:pk>/csv/", views.statement_csv, name="statement-csv"),
]
