from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import idempotency, observability, outbox, retention  # noqa: F401  (signals)

        retention.register("idempotency key(s)", idempotency.purge_expired)
        retention.register("delivery log row(s)", outbox.purge_delivery_logs)
