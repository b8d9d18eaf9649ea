"""Catalogue versions in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from duban.errors import CatalogueError
from duban.store.catalogue import import_catalogue, list_versions, load_catalogue
from duban.store.models import AssignmentRow, CatalogueVersion
from tests.builders import catalogue, item


def test_same_catalogue_twice_is_one_version(store):
    cat = catalogue()
    first = import_catalogue(store, cat, source_sha256="a" * 64)
    second = import_catalogue(store, cat, source_sha256="a" * 64)
    assert (first.version, first.created) == (1, True)
    assert (second.version, second.created) == (1, False)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogueVersion)) == 1


def test_round_trip_keeps_items_units_roles_and_placeholders(store):
    cat = catalogue()
    import_catalogue(store, cat, source_sha256="a" * 64)
    loaded, version = load_catalogue(store)
    assert version == 1
    assert loaded.content_hash() == cat.content_hash()
    t3 = loaded.item("T03")
    assert t3.lead_unit == "市经信局"
    assert t3.co_units == ["市发改委"]
    assert t3.placeholders == ["市级有关单位"]


def test_amended_catalogue_is_a_new_version_and_old_stays_loadable(store):
    cat = catalogue()
    import_catalogue(store, cat, source_sha256="a" * 64)
    amended = replace(cat, items=(replace(cat.items[0], title="新标题"), *cat.items[1:]))
    res = import_catalogue(store, amended, source_sha256="b" * 64)
    assert (res.version, res.created) == (2, True)
    assert load_catalogue(store)[0].item("T01").title == "新标题"
    assert load_catalogue(store, version=1)[0].item("T01").title == "建立感知体系"
    infos = list_versions(store)
    assert [(v.version, v.in_force) for v in infos] == [(1, False), (2, True)]


def test_reimporting_an_older_document_brings_it_back_into_force(store):
    cat = catalogue()
    amended = replace(cat, items=cat.items[:2])
    import_catalogue(store, cat, source_sha256="a" * 64)
    import_catalogue(store, amended, source_sha256="b" * 64)
    res = import_catalogue(store, cat, source_sha256="a" * 64)
    assert (res.version, res.created) == (1, False)
    assert load_catalogue(store)[1] == 1


def test_empty_catalogue_is_refused_and_nothing_is_written(store):
    with pytest.raises(CatalogueError, match="no items"):
        import_catalogue(
            store,
            catalogue([item("T01", 1, "x", ["A"])]).__class__(
                plan=catalogue().plan, items=(), source_name="empty.txt"
            ),
            source_sha256="c" * 64,
        )
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(AssignmentRow)) == 0


def test_loading_before_import_says_what_to_do(store):
    with pytest.raises(LookupError, match="duban catalogue import"):
        load_catalogue(store)


def test_a_catalogue_without_units_has_the_same_items_and_is_kept_apart(store, tmp_path):
    import_catalogue(store, catalogue(), source_sha256="b" * 64)
    light, version = load_catalogue(store, cache_dir=tmp_path, with_units=False)
    whole, same = load_catalogue(store, cache_dir=tmp_path)  # after the light one: not mistaken for it
    assert version == same
    assert all(it.assignments for it in whole.items)
    assert [replace(it, assignments=()) for it in whole.items] == list(light.items)
    again = load_catalogue(store, cache_dir=tmp_path, with_units=False)[0]  # not the whole one kept above
    assert again == light and not any(it.assignments for it in again.items)
