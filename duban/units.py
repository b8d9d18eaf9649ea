"""The unit directory: who a name in a document or a submission refers to, and how to reach it.

Plans and unit reports name the same body in several ways (市综合执法局 ≡ 市综合行政执法局,
市府办 ≡ 市政府办公室 ≡ 丽水市人民政府办公室). ``config/units.yaml`` lists every unit once with
its short name, official full name, aliases, e-mail addresses and an optional supervisor to
copy on escalations. Resolution is exact → alias → full name → fuzzy (rapidfuzz), and a name
that does not resolve is reported with the best suggestion — never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from duban import diskcache
from duban.catalogue.clauses import is_placeholder_name
from duban.domain import Assignment, Catalogue, Finding, FindingKind, Item
from duban.errors import ConfigError
from duban.gcpause import no_gc

__all__ = ["Resolution", "Supervisor", "Unit", "UnitDirectory", "name_key", "resolve_catalogue"]


_CITY_RE = re.compile(r"^(?:中共)?([\u4e00-\u9fff]{2,3}市)")


def name_key(name: str) -> str:
    """Comparison key of a unit name: NFKC (full-width → ASCII), no whitespace."""
    return "".join(unicodedata.normalize("NFKC", name).split())


@dataclass(frozen=True)
class Supervisor:
    name: str
    email: str


@dataclass(frozen=True)
class Unit:
    short_name: str
    full_name: str
    aliases: tuple[str, ...]
    emails: tuple[str, ...]
    supervisor: Supervisor | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the unit answers to: short name, full name, aliases."""
        return (self.short_name, self.full_name, *self.aliases)


@dataclass(frozen=True)
class Resolution:
    """How a name resolved. ``method``: exact, alias, full_name, fuzzy, placeholder or none.

    ``score`` is 100 for exact, alias and full-name matches, else the best fuzzy score;
    ``suggestion`` is the best candidate's short name when it scored between the suggest and
    accept thresholds (the name stays unresolved, ``unit`` is None).
    """

    query: str
    unit: Unit | None
    method: str
    score: float
    suggestion: str | None = None

    @property
    def placeholder(self) -> bool:
        return self.method == "placeholder"

    @property
    def resolved(self) -> bool:
        return self.unit is not None


def _fail(path: Path | str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {problem}")


def _strings(value: Any, path: Path | str, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, where, f"'{field}' must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _unit_from(entry: Any, path: Path | str, index: int) -> Unit:
    where = f"units[{index}]"
    if not isinstance(entry, dict):
        raise _fail(path, where, f"expected a mapping with short_name, full_name, …, got {entry!r}")
    short = entry.get("short_name")
    where = f"units[{index}] ({short})" if isinstance(short, str) else where
    unknown = set(entry) - {"short_name", "full_name", "aliases", "emails", "supervisor"}
    if unknown:
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for field in ("short_name", "full_name"):
        if not isinstance(entry.get(field), str) or not entry[field].strip():
            raise _fail(path, where, f"'{field}' is required and must be a non-empty string")
    emails = _strings(entry.get("emails"), path, where, "emails")
    for email in emails:
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise _fail(path, where, f"'{email}' is not an e-mail address")
    supervisor = None
    if (sup := entry.get("supervisor")) is not None:
        if (
            not isinstance(sup, dict)
            or not isinstance(sup.get("name"), str)
            or "@" not in str(sup.get("email"))
        ):
            raise _fail(path, where, f"'supervisor' needs a name and an e-mail address, got {sup!r}")
        supervisor = Supervisor(sup["name"].strip(), str(sup["email"]).strip())
    return Unit(
        short_name=entry["short_name"].strip(),
        full_name=entry["full_name"].strip(),
        aliases=_strings(entry.get("aliases"), path, where, "aliases"),
        emails=emails,
        supervisor=supervisor,
    )


class UnitDirectory:
    """Units by every name they answer to, plus the placeholder names."""

    def __init__(
        self, units: list[Unit], placeholders: list[str] | tuple[str, ...] = (), *, source: str = ""
    ):
        self.units: list[Unit] = list(units)
        self.placeholders: list[str] = list(placeholders)
        self.source = source or "<units>"
        self._by_short: dict[str, Unit] = {}
        self._by_name: dict[str, tuple[Unit, str]] = {}
        for unit in self.units:
            for name, method in [(unit.short_name, "exact"), (unit.full_name, "full_name")] + [
                (alias, "alias") for alias in unit.aliases
            ]:
                key = name_key(name)
                other = self._by_name.get(key)
                if other is not None and other[0] is not unit:
                    raise ConfigError(
                        f"{self.source}: the name {name!r} of {unit.short_name} is already a name of "
                        f"{other[0].short_name}; a name must point to one unit"
                    )
                if other is None or method == "exact":
                    self._by_name[key] = (unit, method)
            self._by_short[unit.short_name] = unit
        self._placeholder_keys = {name_key(p) for p in self.placeholders}
        # "丽水市市场监管局" is "市市场监管局" with the city spelled out: the city is the prefix
        # most full names share (丽水市), found from the data rather than configured.
        cities = Counter(m.group(1) for u in self.units if (m := _CITY_RE.match(name_key(u.full_name))))
        self._city = cities.most_common(1)[0][0] if cities else None
        self._choices = list(self._by_name)

    @classmethod
    def load(cls, path: Path, *, cache_dir: Path | None = None) -> UnitDirectory:
        """Read ``units.yaml``; ConfigError names the file and the faulty entry.

        With ``cache_dir`` the parsed YAML is kept there, keyed by the file's bytes (see
        ``duban.diskcache``); the entries are checked the same way either way.
        """
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the unit directory: {exc.strerror or exc}") from None
        data = diskcache.load(cache_dir, "units", text) if cache_dir is not None else None
        if data is None:
            try:
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
                data = yaml.load(text.decode("utf-8"), Loader=loader)
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from None
            if cache_dir is not None:
                diskcache.save(cache_dir, "units", text, data)
        if not isinstance(data, dict) or not isinstance(data.get("units"), list):
            raise ConfigError(
                f"{path}: expected a mapping with a 'units:' list (and optional 'placeholders:')"
            )
        with no_gc():
            return cls._from_data(data, path)

    @classmethod
    def _from_data(cls, data: dict[str, Any], path: Path) -> UnitDirectory:
        placeholders = _strings(data.get("placeholders"), path, "placeholders", "placeholders")
        units = [_unit_from(entry, path, i) for i, entry in enumerate(data["units"])]
        seen: dict[str, int] = {}
        for i, unit in enumerate(units):
            if unit.short_name in seen:
                where = f"units[{i}] ({unit.short_name})"
                raise _fail(path, where, f"duplicate short_name, first at units[{seen[unit.short_name]}]")
            seen[unit.short_name] = i
        return cls(units, placeholders, source=str(path))

    def get(self, short_name: str) -> Unit:
        """The unit with this short name; KeyError otherwise."""
        return self._by_short[short_name]

    def __contains__(self, short_name: object) -> bool:
        return short_name in self._by_short

    def __len__(self) -> int:
        return len(self.units)

    def is_placeholder(self, name: str) -> bool:
        """A collective such as 市级有关单位: listed in the YAML or matching the parser's patterns."""
        return name_key(name) in self._placeholder_keys or is_placeholder_name(name)

    def resolve(self, name: str, *, accept: float = 90, suggest: float = 70) -> Resolution:
        """Exact short name → alias → full name → fuzzy; placeholders are recognised first."""
        key = name_key(name)
        if not key:
            return Resolution(name, None, "none", 0.0)
        if self.is_placeholder(name):
            return Resolution(name, None, "placeholder", 100.0)
        if key in self._by_name:
            unit, method = self._by_name[key]
            return Resolution(name, unit, method, 100.0)
        if (
            self._city
            and key.startswith(self._city)
            and (short := "市" + key[len(self._city) :]) in self._by_name
        ):
            return Resolution(name, self._by_name[short][0], "alias", 100.0)
        best = process.extractOne(key, self._choices, scorer=fuzz.ratio) if self._choices else None
        if best is None:
            return Resolution(name, None, "none", 0.0)
        choice, score, _ = best
        unit = self._by_name[choice][0]
        if score >= accept:
            return Resolution(name, unit, "fuzzy", float(score))
        if score >= suggest:
            return Resolution(name, None, "none", float(score), suggestion=unit.short_name)
        return Resolution(name, None, "none", float(score))


def _finding(item: Item, assignment: Assignment, res: Resolution) -> Finding:
    if res.unit is not None:  # accepted fuzzy match: resolved, but worth a look
        zh = (
            f"任务{item.id}的责任单位“{assignment.raw}”按近似匹配识别为“{res.unit.short_name}”"
            f"（相似度{res.score:.0f}），请核对单位名录。"
        )
        en = (
            f"Item {item.id}: unit {assignment.raw!r} matched {res.unit.short_name!r} by fuzzy match "
            f"(score {res.score:.0f}); check the unit directory."
        )
        kind = FindingKind.LOW_CONFIDENCE
    else:
        hint_zh = f"，是否为“{res.suggestion}”？" if res.suggestion else "。"
        hint_en = f"; did you mean {res.suggestion!r}?" if res.suggestion else "."
        zh = (
            f"任务{item.id}的责任单位“{assignment.raw}”不在单位名录中{hint_zh}"
            "请在 config/units.yaml 中补充该单位或添加别名。"
        )
        en = f"Item {item.id}: unit {assignment.raw!r} is not in the unit directory{hint_en}"
        kind = FindingKind.UNKNOWN_UNIT
    evidence = {
        "item_id": item.id,
        "raw": assignment.raw,
        "suggestion": res.suggestion,
        "score": round(res.score, 1),
        "method": res.method,
        "resolved_to": res.unit.short_name if res.unit else None,
    }
    return Finding(kind, zh, en, unit=assignment.raw, item_id=item.id, evidence=evidence)


def resolve_catalogue(
    catalogue: Catalogue, directory: UnitDirectory, *, accept: float = 90, suggest: float = 70
) -> tuple[Catalogue, list[Finding]]:
    """The catalogue with every assignment's ``unit`` set to the canonical short name.

    Placeholders are flagged (``unit`` = raw text). An unresolved name keeps ``unit`` = raw
    and yields an UNKNOWN_UNIT finding (with the suggestion); a fuzzy-accepted one yields a
    LOW_CONFIDENCE finding. When two names of one item resolve to the same unit, the first
    place is kept and a DUPLICATE finding says so.
    """
    findings: list[Finding] = []
    items: list[Item] = []
    for item in catalogue.items:
        out: list[Assignment] = []
        taken: set[str] = set()
        for a in item.assignments:
            if a.placeholder:
                out.append(replace(a, unit=a.raw, position=len(out)))
                continue
            res = directory.resolve(a.raw, accept=accept, suggest=suggest)
            if res.placeholder:
                out.append(replace(a, unit=a.raw, placeholder=True, position=len(out)))
                continue
            if res.method == "fuzzy" or res.unit is None:
                findings.append(_finding(item, a, res))
            unit = res.unit.short_name if res.unit else a.raw
            if res.unit is not None and unit in taken:
                findings.append(
                    Finding(
                        FindingKind.DUPLICATE,
                        f"任务{item.id}中“{a.raw}”与前面列出的单位同为“{unit}”，已合并。",
                        f"Item {item.id}: {a.raw!r} is the same unit as an earlier one ({unit}); merged.",
                        unit=unit,
                        item_id=item.id,
                        evidence={"item_id": item.id, "raw": a.raw, "unit": unit},
                    )
                )
                continue
            taken.add(unit)
            out.append(replace(a, unit=unit, position=len(out)))
        items.append(replace(item, assignments=tuple(out)))
    return replace(catalogue, items=tuple(items)), findings
