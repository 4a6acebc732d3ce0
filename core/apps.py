from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        from . import converters, idempotency, observability, outbox, retention  # noqa: F401
        # (signals; the URL converters, registered before any URLconf is read)

        # Every app's catalogued reasons (core.reasons), for whatever shows a record first.
        autodiscover_modules("reasons")

        retention.register("idempotency key(s)", idempotency.purge_expired)
        retention.register("delivery log row(s)", outbox.purge_delivery_logs)
