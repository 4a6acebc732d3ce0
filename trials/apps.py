from django.apps import AppConfig


class TrialsConfig(AppConfig):
    name = "trials"
    verbose_name = "Trials"

    def ready(self):
        from . import receivers  # noqa: F401  (connects signal receivers)
