"""The application layer: composes the core (``duban``) with ``connectors`` into jobs.

The CLI (``duban_app.cli``) and the Prefect flows (``flows/``) both call these jobs, so a
command and a scheduled run do exactly the same work.
"""
