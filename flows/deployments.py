"""prefect.yaml is the one list of deployments; this module reads it for `make serve` and tests."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

from duban.settings import REPO_ROOT

__all__ = ["DeploymentSpec", "load_flow", "read_deployments"]


@dataclass
class DeploymentSpec:
    name: str
    entrypoint: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    concurrency_limit: dict[str, Any] | None = None


def read_deployments(path: Path = REPO_ROOT / "prefect.yaml") -> list[DeploymentSpec]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    keys = DeploymentSpec.__dataclass_fields__
    return [DeploymentSpec(**{k: v for k, v in d.items() if k in keys}) for d in data["deployments"]]


def load_flow(entrypoint: str, root: Path = REPO_ROOT) -> Flow:
    """Import ``path.py:function`` relative to the repository, as a worker would."""
    file, func = entrypoint.split(":")
    module = ".".join(Path(file).with_suffix("").parts)
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ImportError(f"{entrypoint}: module {module} not found under {root}")
    return getattr(importlib.import_module(module), func)
