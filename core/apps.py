from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from . import idempotency, observability, outbox, retention  # noqa: F401  (signals)

        retention.register("idempotency key(s)", idempotency.purge_expired)
        retention.register("delivery log row(s)", outbox.purge_delivery_logs)
