"""Admin console: each area registers its models in its own module."""

from .claims import admin as claims_admin  # noqa: F401
from .requests import admin as requests_admin  # noqa: F401
from .statements import admin as statements_admin  # noqa: F401
