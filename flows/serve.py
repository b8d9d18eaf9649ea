"""`make serve`: a local Prefect server (started if none answers) serving every deployment.

Schedules come from prefect.yaml; `serve` needs a real server (the ephemeral one refuses
schedules), so this starts `prefect server start` in the background when PREFECT_API_URL is
not set, and stops it on Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

PORT = int(os.environ.get("DUBAN_PREFECT_PORT", "4200"))


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    api = os.environ.get("PREFECT_API_URL") or f"http://127.0.0.1:{PORT}/api"
    server = None
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if not _healthy(api):
        print(f"starting a Prefect server on 127.0.0.1:{PORT} …", flush=True)
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(PORT)],
            env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        )
        deadline = time.monotonic() + 120
        while not _healthy(api):
            if server.poll() is not None or time.monotonic() > deadline:
                print("the Prefect server did not start; see its output above", file=sys.stderr)
                return 1
            time.sleep(1)
    os.environ["PREFECT_API_URL"] = api
    from prefect import serve
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Cron

    from flows.deployments import load_flow, read_deployments

    deployments = []
    for spec in read_deployments():
        flow = load_flow(spec.entrypoint)
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True)) for s in spec.schedules
        ]
        limit = ConcurrencyLimitConfig(**spec.concurrency_limit) if spec.concurrency_limit else None
        deployments.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description,
                tags=spec.tags,
                parameters=spec.parameters,
                schedules=schedules,
                concurrency_limit=limit,
            )
        )
    print(f"serving {len(deployments)} deployments; UI at {api.removesuffix('/api')}", flush=True)
    try:
        serve(*deployments, pause_on_shutdown=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
