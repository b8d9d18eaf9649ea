"""duban (督办): the core of the reporting cycle of a government implementation plan.

This package holds the domain — catalogue parsing, unit resolution, periods, validation,
reconciliation, notice planning, bulletin metrics — and the store. It imports neither Prefect
nor ``connectors``; the CLI (``duban_cli``) and the flows (``flows``) compose them.
"""

__version__ = "0.1.0"
