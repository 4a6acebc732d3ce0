"""Console pages of billing.statements (operators), included by billing/console_urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("statements/", views.console_list, name="statements"),
    path("statements/issue/", views.console_issue, name="statement-issue"),
    path("statements/<int:pk>/", views.console_detail, name="statement"),
    path("statements/<int:pk>/pdf/", views.console_pdf, name="statement-pdf"),
    path("statements/<int:pk>/csv/", views.console_csv, name="statement-csv"),
]
