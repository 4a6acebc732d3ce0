"""The Celery application. Apps define tasks with ``celery.shared_task``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testbed.settings")

app = Celery("testbed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
