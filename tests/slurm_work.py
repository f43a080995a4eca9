"""Work for the SLURM executor tests: run inside jobs, so importable there (the tests put this folder on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

STARTED = "started"


def nap(payload: dict[str, Any]) -> dict[str, Any]:
    """Write ``<dir>/<name>.started`` (this process's id), sleep ``seconds``, return the name and the job's restarts."""
    folder = Path(payload["dir"])
    (folder / f"{payload['name']}.{STARTED}").write_text(str(os.getpid()))
    time.sleep(payload["seconds"])
    return {"name": payload["name"], "restarts": int(os.environ.get("SLURM_RESTART_COUNT", "0"))}
