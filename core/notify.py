"""Rendering notifications in both working languages of the platform.

Users of the Beijing hubs read Chinese first and many partners read English; every
e-mail carries both, Chinese first, rendered from the same translatable strings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

LANGUAGES = ("zh-hans", "en")
# Every subject starts with it, once (allauth's own mails: ACCOUNT_EMAIL_SUBJECT_PREFIX).
SUBJECT_PREFIX = "[Testbed] "


def _unprefixed(subject: str) -> str:
    subject = " ".join(subject.split())
    while subject.startswith(SUBJECT_PREFIX.strip()):
        subject = subject[len(SUBJECT_PREFIX.strip()):].lstrip()
    return subject


def bilingual(render: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    """``render()`` → (subject, body) in the active language; returns both languages
    joined: '[Testbed] 主题 · subject' (the prefix once, whether or not ``render`` adds
    it) and the two bodies one after the other."""
    parts = []
    for language in LANGUAGES:
        with translation.override(language):
            parts.append(render())
    subjects = dict.fromkeys(_unprefixed(s) for s, _ in parts)  # identical when untranslated
    subject = SUBJECT_PREFIX + " · ".join(subjects)
    body = "\n\n————————\n\n".join(b for _, b in parts)
    return subject, body


def line(label: str, value) -> str:
    """'Label: value' (labels are translated by the caller, outside any f-string, so
    that makemessages finds them)."""
    return f"{label}: {value}"


def subject_line(headline: str, detail) -> str:
    """'[Testbed] Headline: detail'; :func:`bilingual` keeps one prefix for both
    languages."""
    return f"{SUBJECT_PREFIX}{headline}: {detail}"


def page_url(viewname: str, *args) -> str:
    """The absolute address of one of the site's pages, for a message sent without a
    request (an e-mail from a task or a sweep): under ``settings.SITE_URL``; "" when that
    is not set. The portal's paths carry no language: the page opens in the reader's."""
    return f"{settings.SITE_URL}{reverse(viewname, args=args)}" if settings.SITE_URL else ""


def link(url: str) -> list[str]:
    """The lines that end an e-mail body with the page it is about (none without one)."""
    return ["", line(_("Open in Testbed"), url)] if url else []


def audiences(*groups: tuple[Iterable[str], str]) -> Iterator[tuple[list[str], str]]:
    """Each group of (addresses, the page they are sent to) with no one told twice (the
    first group a person is in wins) and empty groups left out: the people on each side
    of a change get one body each, linking to the page their side opens."""
    told: set[str] = set()
    for addresses, url in groups:
        fresh = [a for a in dict.fromkeys(addresses) if a and a not in told]
        told.update(fresh)
        if fresh:
            yield fresh, url
