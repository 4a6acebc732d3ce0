"""Calendar subscription feeds (RFC 5545) by secret token, and a booking's .ics file:
``services`` (make, revoke), ``selectors`` (the live feed, its bookings), ``ics`` (the
iCalendar rendering), ``api`` (``/api/v1/calendar-feeds/``), ``views`` (the feed URL)."""
