"""Celery finds an app's tasks in its ``tasks`` module: each area keeps its own."""

from .requests.tasks import expire_service_requests  # noqa: F401
from .statements.tasks import issue_due_statements  # noqa: F401
