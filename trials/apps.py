from django.apps import AppConfig


class TrialsConfig(AppConfig):
    name = "trials"
    verbose_name = "Trials"

    def ready(self):
        from . import notifications, receivers  # noqa: F401  (receivers; event types)
        from .sharing import delivery

        delivery.register()  # the outbox's preparer for dataset releases
