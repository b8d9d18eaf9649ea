"""One place that opens what every job needs: settings, store, unit directory, catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from duban.settings import Settings, get_settings
from duban.store import Store, open_store

__all__ = ["AppContext"]


@dataclass
class AppContext:
    """Lazily opened resources for one command or flow run."""

    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def store(self) -> Store:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return open_store(self.settings.db_url)

    @cached_property
    def directory(self):  # -> duban.units.UnitDirectory
        from duban.units import UnitDirectory

        return UnitDirectory.load(self.settings.units_path)

    def catalogue(self, version: int | None = None):  # -> tuple[Catalogue, int]
        from duban.store.catalogue import load_catalogue

        return load_catalogue(self.store, version=version)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.dispose()
