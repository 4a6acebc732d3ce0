"""The SME portal's booking pages: the catalogue with its "free between" search
(``finder``), an equipment's week of free time (``week``), the booking form, the SME's
bookings with their history, cancellation and .ics export (``views``)."""
