"""Which unit sent a table, and for which period — from the strongest evidence available.

A returned template names itself (hidden metadata); other files say it in a 填报单位 line, a
unit column, the file name, or only through the sender's address. Each candidate is resolved
through the unit directory, strongest first:

    unit:   meta["unit"] (then meta["unit_name"]) → table.unit_hint → the unit column (when all
            filled rows agree) → a directory name inside the file name (longest wins) → the
            sender (collection.senders mapping, then the directory's unit e-mails)
    period: meta["period"] → table.period_hint → cli_period → a period key in the file name

Decisions: a candidate that does not resolve (or names a placeholder such as 市级有关单位)
becomes an UNKNOWN_UNIT finding with the directory's suggestion, also when a weaker candidate
then succeeds (so the directory gains the alias). When the file's own metadata, 填报单位 line
or unit column name *different* units, the strongest wins and a CONFLICT finding says so.
When the period the file states differs from the period being collected (``cli_period``), the
file's period is used — it is what the unit filled in — and a CONFLICT finding asks the unit
to resend on this period's template if it meant the current period.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from duban.collect.vocab import is_blank
from duban.domain import Finding, FindingKind, SheetTable
from duban.periods import find_period_key, normalise_period_key

if TYPE_CHECKING:
    from duban.units import Resolution, UnitDirectory

__all__ = ["Identity", "identify"]

_CONTENT = ("meta", "hint", "column")


@dataclass
class Identity:
    unit: str | None
    unit_method: str
    period: str | None
    period_method: str
    findings: list[Finding] = field(default_factory=list)


def _text(value: Any) -> str:
    return "" if is_blank(value) else unicodedata.normalize("NFKC", str(value)).strip()


def _column_unit(table: SheetTable) -> str | None:
    # most tables have no unit column: skip its absent (None) cells before normalising any
    values = {_text(v) for r in table.rows if (v := r.values.get("unit")) is not None} - {""}
    return values.pop() if len(values) == 1 else None


_RESOLVED: dict[int, tuple[UnitDirectory, dict[str, Resolution]]] = {}


def _resolve(directory: UnitDirectory, text: str) -> Resolution:
    """``directory.resolve(text)``, remembered per directory: a directory does not change once
    built (a new units.yaml is a new directory), and the same names come in file after file."""
    hit = _RESOLVED.get(id(directory))
    if hit is None or hit[0] is not directory:
        if len(_RESOLVED) >= 4:
            _RESOLVED.clear()
        hit = _RESOLVED[id(directory)] = (directory, {})
    known = hit[1]
    res = known.get(text)
    if res is None:
        if len(known) >= 65536:
            known.clear()
        res = known[text] = directory.resolve(text)
    return res


def _filename_unit(directory: UnitDirectory, filename: str) -> str | None:
    """The longest directory name (short, full or alias) contained in the file's base name."""
    base = unicodedata.normalize("NFKC", os.path.basename(filename))
    best: tuple[int, str] | None = None
    for unit in directory.units:
        for name in (unit.short_name, unit.full_name, *unit.aliases):
            name = unicodedata.normalize("NFKC", name or "")
            if len(name) >= 2 and name in base and (best is None or len(name) > best[0]):
                best = (len(name), unit.short_name)
    return best[1] if best else None


def _sender_unit(directory: UnitDirectory, sender: str | None, senders: dict[str, str] | None) -> str | None:
    addr = parseaddr(sender or "")[1].strip().lower()
    if not addr:
        return None
    for key, unit in (senders or {}).items():
        if key.strip().lower() == addr:
            return unit
    for unit in directory.units:
        if addr in (e.strip().lower() for e in unit.emails):
            return unit.short_name
    return None


def _unit_candidates(
    table: SheetTable,
    directory: UnitDirectory,
    filename: str,
    sender: str | None,
    senders: dict[str, str] | None,
) -> list[tuple[str, str]]:
    found = [
        ("meta", _text(table.meta.get("unit"))),
        ("meta", _text(table.meta.get("unit_name"))),
        ("hint", _text(table.unit_hint)),
        ("column", _column_unit(table) or ""),
    ]
    return [(m, t) for m, t in found if t]


def _fallback_candidates(
    directory: UnitDirectory, filename: str, sender: str | None, senders: dict[str, str] | None
) -> Iterator[tuple[str, str]]:
    """File name, then sender: each looked up only when asked for (scanning every name costs)."""
    if text := _filename_unit(directory, filename):
        yield "filename", text
    if text := _sender_unit(directory, sender, senders):
        yield "sender", text


def _identify_unit(
    table: SheetTable,
    directory: UnitDirectory,
    filename: str,
    sender: str | None,
    senders: dict[str, str] | None,
) -> tuple[str | None, str, list[Finding]]:
    unresolved: list[tuple[str, str, Resolution]] = []
    resolved: list[tuple[str, str, str]] = []  # (method, text, unit)

    def candidates() -> Iterator[tuple[str, str]]:
        yield from _unit_candidates(table, directory, filename, sender, senders)
        if not resolved:  # a unit named by the content wins over file name and sender anyway
            yield from _fallback_candidates(directory, filename, sender, senders)

    for method, text in candidates():
        res = _resolve(directory, text)
        if res.unit is not None and not res.placeholder:
            resolved.append((method, text, res.unit.short_name))
            if method not in _CONTENT:
                break
        elif not resolved:
            unresolved.append((method, text, res))
    unit, method = (resolved[0][2], resolved[0][0]) if resolved else (None, "none")
    findings: list[Finding] = []
    seen: set[str] = set()
    for how, text, res in unresolved:
        if text in seen:
            continue
        seen.add(text)
        if res.placeholder:
            zh = f"“{text}”不是具体的报送单位，请填写本单位名称"
            en = f"{text!r} ({how}) is a placeholder, not an addressable unit"
        elif res.suggestion:
            zh = f"报送单位“{text}”无法识别，是否为“{res.suggestion}”？请使用单位规范名称"
            en = f"unit {text!r} ({how}) not found in the directory; did you mean {res.suggestion!r}?"
        else:
            zh = f"报送单位“{text}”无法识别，请使用单位规范名称"
            en = f"unit {text!r} ({how}) not found in the directory"
        evidence = {"value": text, "source": how, "suggestion": res.suggestion, "score": res.score}
        findings.append(Finding(FindingKind.UNKNOWN_UNIT, zh, en, unit=unit, evidence=evidence))
    if not resolved and not unresolved:
        findings.append(
            Finding(
                FindingKind.UNKNOWN_UNIT,
                "无法确定报送单位：文件未写明填报单位，文件名和发件人也无法对应到单位名录",
                "no unit: no metadata, unit line or unit column; file name and sender match no unit",
                evidence={"filename": os.path.basename(filename), "sender": sender},
            )
        )
    others = sorted({u for m, _, u in resolved if m in _CONTENT and u != unit})
    if unit is not None and method in _CONTENT and others:
        zh = f"文件中标注的报送单位不一致（{unit}、{'、'.join(others)}），已按“{unit}”处理，请核实"
        en = f"the file names different units ({unit}, {', '.join(others)}); taken as {unit} ({method})"
        evidence = {"field": "unit", "chosen": unit, "method": method, "others": others}
        findings.append(Finding(FindingKind.CONFLICT, zh, en, unit=unit, evidence=evidence))
    return unit, method, findings


def _identify_period(
    table: SheetTable, filename: str, cli_period: str | None, unit: str | None
) -> tuple[str | None, str, list[Finding]]:
    findings: list[Finding] = []
    cli = normalise_period_key(cli_period) if cli_period else None
    stated: tuple[str, str] | None = None
    for method, text in (("meta", table.meta.get("period")), ("hint", table.period_hint)):
        if is_blank(text):
            continue
        key = find_period_key(str(text))
        if key:
            stated = (key, method)
            break
        findings.append(
            Finding(
                FindingKind.UNKNOWN_PERIOD,
                f"报送期间“{text}”无法识别，应如“2026Q4”或“2026年第四季度”",
                f"period {text!r} ({method}) not recognised",
                unit=unit,
                evidence={"value": str(text), "source": method},
            )
        )
    if stated:
        key, method = stated
        if cli and key != cli:
            zh = (
                f"文件标注的报送期间为{key}，与本次收集的期间{cli}不一致，已按{key}处理；"
                f"如报送的是{cli}的情况，请使用本期模板重新报送"
            )
            en = f"the file states period {key} ({method}) but {cli} is being collected; filed under {key}"
            evidence = {"field": "period", "chosen": key, "method": method, "collecting": cli}
            findings.append(Finding(FindingKind.CONFLICT, zh, en, unit=unit, period=key, evidence=evidence))
        return key, method, findings
    if cli:
        return cli, "cli", findings
    if key := find_period_key(os.path.basename(filename)):
        return key, "filename", findings
    findings.append(
        Finding(
            FindingKind.UNKNOWN_PERIOD,
            "无法确定报送期间：文件未写明报送期间，请使用下发的模板",
            "no period: no metadata, period line, collection period or period in the file name",
            unit=unit,
            evidence={"filename": os.path.basename(filename)},
        )
    )
    return None, "none", findings


def identify(
    table: SheetTable,
    directory: UnitDirectory,
    *,
    filename: str,
    sender: str | None = None,
    senders: dict[str, str] | None = None,
    cli_period: str | None = None,
) -> Identity:
    """The unit and period of one table, with findings for what was unclear or contradictory."""
    unit, unit_method, unit_findings = _identify_unit(table, directory, filename, sender, senders)
    period, period_method, period_findings = _identify_period(table, filename, cli_period, unit)
    findings = unit_findings + period_findings
    for f in findings:
        f.period = f.period or period
    return Identity(unit, unit_method, period, period_method, findings)
