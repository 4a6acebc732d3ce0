"""The floor half of the operators' console: today's work, the timeline of the hubs'
equipment, the queue of requests, one booking with its check-in and completion, no-shows
and maintenance windows. Every action goes through ``bookings.services`` or
``equipment.services``; reads through selectors that take the acting organisation."""
