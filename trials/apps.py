from django.apps import AppConfig


class TrialsConfig(AppConfig):
    name = "trials"
    verbose_name = "Trials"

    def ready(self):
        from . import notifications, receivers  # noqa: F401  (receivers; event types)
        from .sharing import delivery

        delivery.register()  # the outbox's preparer for dataset releases
        from core import retention

        from .collector import store

        retention.register("raw observation(s)", store.purge_observations)
