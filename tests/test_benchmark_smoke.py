"""The benchmark at the tiny scale: every stage runs and every figure of issue 7 is stored.

No timing is asserted — the figures depend on the machine; what must hold is that each stage
did its work (files stored, notices sent, bulletin written) and the JSON carries the keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.generate import SCALES, ensure_dataset
from benchmarks.run import run
from benchmarks.stages import _covered

REQUIRED = {
    "scale",
    "units",
    "files",
    "floor_s",
    "naive_s",
    "collect_s",
    "reconcile_s",
    "notices_s",
    "bulletin_s",
    "cycle_prefect_s",
    "cycle_inprocess_s",
    "peak_rss_mb",
}
STAGES = ("floor_s", "naive_s", "collect_files_s", "collect_api_s", "reconcile_s", "notices_s", "bulletin_s")


def _stored(out: Path) -> dict:
    latest = json.loads((out / "latest.json").read_text("utf-8"))
    assert latest == json.loads((out / "tiny.json").read_text("utf-8"))
    return latest


def test_job_time_counts_overlapping_batches_once() -> None:
    # Collection batches run side by side in the flow's threads: their union is the time spent.
    assert _covered([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == 3.0
    assert _covered([(0.0, 5.0), (1.0, 2.0)]) == 5.0
    assert _covered([]) == 0.0


def test_dataset_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = ensure_dataset(SCALES["tiny"], tmp_path)
    files = first.files()
    assert first.manifest["reused"] is False
    assert len(files) == first.manifest["files"] == SCALES["tiny"].units
    assert {p.suffix for p in files} >= {".xlsx", ".csv"}
    assert first.api_records and all(r["period"] == "2026Q3" for r in first.api_records)
    again = ensure_dataset(SCALES["tiny"], tmp_path)
    assert again.manifest["reused"] is True
    assert [p.read_bytes() for p in again.files()] == [p.read_bytes() for p in files]


def test_tiny_run_in_process_stores_every_figure(tmp_path: Path) -> None:
    run("tiny", tmp_path, prefect=False, pdf=False)
    r = _stored(tmp_path)
    assert r.keys() >= REQUIRED
    assert (r["scale"], r["units"], r["files"]) == ("tiny", 20, 20)
    assert r["errors"] == {}
    for key in STAGES:
        assert r[key] > 0, key
    assert r["cycle_inprocess_s"] >= r["collect_s"] + r["reconcile_s"] + r["notices_s"] + r["bulletin_s"]
    assert r["cycle_prefect_s"] is None  # not run: reported as missing, never as zero
    counts = r["counts"]["inprocess"]
    assert counts["submissions"]["accepted"] >= r["files"] - 5  # resubmissions supersede some files
    assert counts["items"] > 0
    assert r["notices"]["sent"] > 0 and r["notices"]["failed"] == 0
    assert counts["notices"] == {"overdue:sent": r["notices"]["sent"]}
    assert r["smtp_floor_messages"] == r["notices"]["sent"]  # the floor resent exactly what duban sent
    assert counts["documents"] >= 3  # docx, html, xlsx (+ charts)
    assert r["peak_rss_mb"] > 0
    ratios = r["ratios"]
    names = {t["name"] for t in ratios["targets"]}
    assert names >= {"collection / floor", "naive / collection", "Prefect overhead (s)", "peak RSS (MB)"}
    assert ratios["growth"][0]["scale"] == "tiny"


@pytest.mark.slow
def test_tiny_run_through_a_prefect_server(tmp_path: Path) -> None:
    run("tiny", tmp_path, naive_sample=5)
    r = _stored(tmp_path)
    assert r["errors"] == {}
    assert r["cycle_prefect_s"] > 0 and r["prefect_server_start_s"] > 0
    assert r["same_results"] is True  # the flows stored what the in-process jobs stored
    assert r["counts"]["prefect"]["notices"] == r["counts"]["inprocess"]["notices"]
    assert 0 < r["prefect_jobs_s"] <= r["cycle_prefect_s"]  # the overhead is what is left
    assert r["ratios"]["prefect_overhead_s"] == r["cycle_prefect_s"] - r["prefect_jobs_s"]
