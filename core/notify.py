"""Rendering notifications in both working languages of the platform.

Users of the Beijing hubs read Chinese first and many partners read English; every
e-mail carries both, Chinese first, rendered from the same translatable strings."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import translation

LANGUAGES = ("zh-hans", "en")


def bilingual(render: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    """``render()`` → (subject, body) in the active language; returns both languages
    joined: 'subject · 主题' and the two bodies one after the other."""
    parts = []
    for language in LANGUAGES:
        with translation.override(language):
            parts.append(render())
    subjects = dict.fromkeys(s for s, _ in parts)  # identical when untranslated
    subject = " · ".join(subjects)
    body = "\n\n————————\n\n".join(b for _, b in parts)
    return subject, body


def line(label: str, value) -> str:
    """'Label: value' (labels are translated by the caller, outside any f-string, so
    that makemessages finds them)."""
    return f"{label}: {value}"


def subject_line(headline: str, detail) -> str:
    return f"[Testbed] {headline}: {detail}"
