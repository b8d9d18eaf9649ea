"""The `duban` command line."""

from __future__ import annotations

import typer

from duban_app.cli import bulletin, collection, cycle, notices
from duban_app.cli.catalogue import catalogue_app, units_app
from duban_app.cli.common import console, run

__all__ = ["app"]

app = typer.Typer(
    help="督办 duban — run the reporting cycle of an implementation plan.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(units_app, name="units")
db_app = typer.Typer(help="The store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's migrations (they also run on first use)."""
    from duban.store import upgrade

    with run() as ctx:
        upgrade(ctx.settings.db_url)
        console.print(f"store at {ctx.settings.db_url} is up to date")


for module in (collection, cycle, notices, bulletin):
    module.register(app)

if __name__ == "__main__":
    app()
