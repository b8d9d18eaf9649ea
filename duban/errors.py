"""duban's exceptions, one small tree; foreign errors are translated at the boundary.

    DubanError
    ├── CatalogueError        the plan document cannot become a catalogue (names the file, the reason)
    ├── CalendarUnknown       a date lies beyond what the working-day calendar knows
    ├── SubmissionUnreadable  a received file cannot be read → quarantined, becomes a finding
    ├── SourceUnavailable     an API or server failed after retries → retry the batch later
    └── ConfigError           settings, unit directory or sources.yaml are wrong

Every message says what and where; the ``*_zh`` text is for the units, the English for logs.
"""

from __future__ import annotations

__all__ = [
    "CalendarUnknown",
    "CatalogueError",
    "ConfigError",
    "DubanError",
    "SourceUnavailable",
    "SubmissionUnreadable",
]


class DubanError(Exception):
    """Root of duban's errors."""


class CatalogueError(DubanError):
    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class CalendarUnknown(DubanError):
    """The working-day calendar does not cover a date; add the announced days to config."""


class SubmissionUnreadable(DubanError):
    def __init__(self, reason_en: str, reason_zh: str, *, source: str | None = None) -> None:
        super().__init__(f"{source + ': ' if source else ''}{reason_en}")
        self.reason_en = reason_en
        self.reason_zh = reason_zh
        self.source = source


class SourceUnavailable(DubanError):
    """A remote source failed after all retries; nothing was lost, rerun later."""


class ConfigError(DubanError):
    """A configuration file or value is wrong; the message names the file and the key."""
