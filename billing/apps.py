from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Service requests, statements and claims")

    def ready(self) -> None:
        from .claims import notifications as claims  # noqa: F401  (event types)
        from .statements import notifications as statements  # noqa: F401  (event types)
