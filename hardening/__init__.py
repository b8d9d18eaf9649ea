"""Hardening campaigns: crashes, faults, fuzzing, injection and isolation, with figures.

Why a package and not only tests: the same campaign code runs twice — a few trials in
``make test`` (``tests/test_hardening_*.py``, fast enough for every change) and the full
campaigns in ``make soak`` (``python -m hardening``), which prints a table of what was tried,
how many trials, what was lost or duplicated and how long it ran, and rewrites that table in
RELIABILITY.md. Each campaign returns a :class:`~hardening.report.CampaignResult`.
"""

from hardening.report import CampaignResult

__all__ = ["CampaignResult"]
