"""Date and time formats, one per language (settings.FORMAT_MODULE_PATH): English
"1 Dec 2026, 14:30", Chinese "2026年12月1日 14:30". Templates use the named formats
(``|date:"DATE_FORMAT"``, ``"SHORT_DATE_FORMAT"``, ``"MONTH_DAY_FORMAT"`` …), never a
pattern of their own; what is not set here comes from Django's own locale formats."""
