from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialsConfig(AppConfig):
    name = "trials"
    verbose_name = _("Trials")

    def ready(self):
        from . import notifications, receivers  # noqa: F401  (receivers; event types)
        from .sharing import delivery

        delivery.register()  # the outbox's preparer for dataset releases
        from core import retention

        from .collector import store

        retention.register("raw observation(s)", store.purge_observations)
