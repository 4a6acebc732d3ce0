from tests.bookings.conftest import (  # noqa: F401  (fixtures reused here)
    category,
    equipment,
    hub,
    operator,
    other_operator,
    other_sme,
    sme,
)
from tests.trials.conftest import checked_in, gateway, http_equipment  # noqa: F401
