"""Prefect flows: thin wrappers that schedule the jobs of ``duban_app`` at batch granularity.

``collect``, ``reconcile``, ``remind`` and ``summarize`` can be run on their own; the daily
``reporting_cycle`` decides from the period calendar what is due and runs it. Every step is
idempotent through the store and the outbox, so any day can be run again.
"""
