"""One place that opens what every job needs: settings, store, unit directory, catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from duban.settings import Settings, get_settings
from duban.store import Store, open_store

__all__ = ["AppContext"]

_DIRECTORIES: dict[tuple[str, int, int], object] = {}


def _directory(path: Path, cache_dir: Path):  # -> duban.units.UnitDirectory
    """The unit directory, loaded once per process while ``units.yaml`` is unchanged: 5,000 units
    take a second to load, and every batch task and notice stage opens its own context (the
    parsed YAML is also kept in ``cache_dir`` for the next process)."""
    from duban.units import UnitDirectory

    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:  # let the loader say what is wrong with the path
        return UnitDirectory.load(path)
    hit = _DIRECTORIES.get(key)
    if hit is None:
        if len(_DIRECTORIES) >= 4:
            _DIRECTORIES.clear()
        hit = _DIRECTORIES[key] = UnitDirectory.load(path, cache_dir=cache_dir)
    return hit


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
        return _directory(self.settings.units_path, self.cache_dir)

    def catalogue(self, version: int | None = None, *, with_units: bool = True):  # -> tuple[Catalogue, int]
        """The catalogue in force (or ``version``); ``with_units=False``: items without their
        assignments, all that reading returned files needs (``load_catalogue``)."""
        from duban.store.catalogue import load_catalogue

        return load_catalogue(self.store, version=version, cache_dir=self.cache_dir, with_units=with_units)

    @property
    def cache_dir(self) -> Path:
        """Parsed inputs kept between processes (``duban.diskcache``); safe to delete at any time."""
        return self.settings.home / "cache"

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.dispose()
