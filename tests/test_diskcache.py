"""Parsed inputs kept on disk (``duban.diskcache``): the unit directory and catalogue versions."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import update

from duban import diskcache
from duban.settings import REPO_ROOT
from duban.store import catalogue as store_catalogue
from duban.store.catalogue import import_catalogue, load_catalogue
from duban.store.models import AssignmentRow
from duban.units import UnitDirectory
from tests.builders import catalogue

UNITS_YAML = REPO_ROOT / "config" / "units.yaml"


def test_values_round_trip_and_a_changed_key_is_a_miss(tmp_path):
    value = {"units": [{"short_name": "市府办", "emails": ["a@b.cn"]}], "n": (1, 2.5, None, True)}
    assert diskcache.load(tmp_path, "units", b"v1") is None
    diskcache.save(tmp_path, "units", b"v1", value)
    assert diskcache.load(tmp_path, "units", b"v1") == value
    assert diskcache.load(tmp_path, "units", b"v2") is None
    assert diskcache.load(tmp_path, "catalogue", b"v1") is None  # kinds do not share entries


def test_damaged_files_read_as_misses_and_unmarshallable_values_are_not_kept(tmp_path):
    diskcache.save(tmp_path, "units", b"k", ["ok"])
    (entry,) = tmp_path.glob("units-*.marshal")
    entry.write_bytes(b"\xff\x00garbage")
    assert diskcache.load(tmp_path, "units", b"k") is None
    diskcache.save(tmp_path, "units", b"dated", {"issued": dt.date(2022, 9, 1)})  # marshal cannot hold it
    assert diskcache.load(tmp_path, "units", b"dated") is None
    assert not list(tmp_path.glob("*.part"))


def test_only_the_newest_entries_of_a_kind_are_kept(tmp_path):
    for k in range(diskcache.KEEP + 3):
        diskcache.save(tmp_path, "units", str(k).encode(), [k])
    diskcache.save(tmp_path, "catalogue", b"c", [0])
    assert len(list(tmp_path.glob("units-*.marshal"))) == diskcache.KEEP
    assert diskcache.load(tmp_path, "units", str(diskcache.KEEP + 2).encode()) == [diskcache.KEEP + 2]
    assert diskcache.load(tmp_path, "catalogue", b"c") == [0]


def test_unit_directory_from_the_cache_is_the_same_and_an_edit_is_never_stale(tmp_path):
    units = tmp_path / "units.yaml"
    units.write_bytes(UNITS_YAML.read_bytes())
    cache = tmp_path / "cache"
    plain = UnitDirectory.load(units)
    first = UnitDirectory.load(units, cache_dir=cache)
    assert len(list(cache.glob("units-*.marshal"))) == 1
    second = UnitDirectory.load(units, cache_dir=cache)
    assert plain.units == first.units == second.units
    assert second.resolve("丽水市人民政府办公室").unit == plain.resolve("丽水市人民政府办公室").unit
    edited = units.read_text("utf-8").replace("short_name: 市府办", "short_name: 市政府办", 1)
    assert edited != units.read_text("utf-8")
    units.write_text(edited, "utf-8")
    third = UnitDirectory.load(units, cache_dir=cache)
    assert "市政府办" in third and "市府办" not in third


def test_catalogue_from_the_cache_equals_the_store_and_a_rebuilt_store_is_not_stale(store, tmp_path):
    cache = tmp_path / "cache"
    cat = catalogue()
    import_catalogue(store, cat, source_sha256="a" * 64)
    plain, _ = load_catalogue(store)
    store_catalogue._LOADED.clear()
    first, _ = load_catalogue(store, cache_dir=cache)
    store_catalogue._LOADED.clear()
    # the cache, not the store, is read now: change the store behind its back to prove it
    with store.session() as s:
        s.execute(update(AssignmentRow).values(raw="改过的原文"))
    cached, version = load_catalogue(store, cache_dir=cache)
    assert version == 1
    assert plain == first == cached
    assert cached.content_hash() == cat.content_hash()
    assert [a.raw for a in cached.item("T03").assignments] == [a.raw for a in cat.item("T03").assignments]


def test_catalogue_cache_is_keyed_by_the_stored_version_not_only_its_number(store, tmp_path):
    cache = tmp_path / "cache"
    cat = catalogue()
    import_catalogue(store, cat, source_sha256="a" * 64)
    load_catalogue(store, cache_dir=cache)
    store_catalogue._LOADED.clear()
    # another document imported into a fresh store would also be version 1 with row id 1
    with store.session() as s:
        s.execute(AssignmentRow.__table__.delete())
        s.execute(store_catalogue.ItemRow.__table__.delete())
        s.execute(store_catalogue.CatalogueVersion.__table__.delete())
    other = replace(cat, items=(replace(cat.items[0], title="另一份文件的任务"), *cat.items[1:]))
    import_catalogue(store, other, source_sha256="b" * 64)
    loaded, version = load_catalogue(store, cache_dir=cache)
    assert version == 1
    assert loaded.items[0].title == "另一份文件的任务"
