"""Run folders keyed by the hash of their resolved config, and a SQLite index over them.

Layout under a runs root::

    <root>/<kind>/<name>-<hash12>/config.json    kind (recipe name, or "train"), cell name, full key, config,
                                                 provenance (conventions, versions, device), start time
                                   metrics.jsonl  records logged while running (one JSON object a line)
                                   arrays.npz     numpy arrays the cell saved
                                   summary.json   what the cell returned, plus timing; written last = "done"
                                   train/         (training runs) the training loop's own folder: model.pt, ...
    <root>/index.sqlite                          one row per run folder, rebuilt from the folders by sync()

A folder with ``summary.json`` is finished and is skipped on re-runs; a folder without it was interrupted and is
run again (training resumes from its per-epoch checkpoint; analysis cells start over, they are cheap). Every file is
written atomically, and a lock file keeps two processes from running the same folder at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from freqlens import fourier, provenance
from freqlens.errors import FreqlensError
from freqlens.experiments.base import Cell, CellResult, Context, Recipe, config_hash

if TYPE_CHECKING:
    from torch import nn

CONFIG, METRICS, ARRAYS, SUMMARY, LOCK = "config.json", "metrics.jsonl", "arrays.npz", "summary.json", ".lock"
TRAIN_KIND = "train"
# Training-config fields that say where or how fast a model is trained, not which model: left out of the hash.
MACHINE_FIELDS = ("device", "data_dir")


def run_dir(root: Path, kind: str, name: str, config: Mapping[str, Any]) -> Path:
    """The folder of the run ``(kind, config)``: ``<root>/<kind>/<name>-<hash12>``.

    The hash identifies the run; ``name`` only makes the folder readable, so an existing folder with the same hash
    under another name is the same run and is returned.

    Example:
        >>> run_dir(Path("runs"), "hfc-e4", "lfc-8", {"r": 8}).parent.as_posix()
        'runs/hfc-e4'
    """
    digest = config_hash(kind, config)[:12]
    folder = Path(root) / kind
    existing = sorted(folder.glob(f"*-{digest}")) if folder.is_dir() else []
    return existing[0] if existing else folder / f"{name}-{digest}"


def is_done(path: Path) -> bool:
    """Whether the run folder holds a finished run."""
    return (Path(path) / SUMMARY).is_file()


def log_metrics(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON record to the run's ``metrics.jsonl`` (a whole line per call, flushed)."""
    line = json.dumps(dict(record), default=provenance._jsonable, allow_nan=True)
    with open(Path(path) / METRICS, "a") as fh:
        fh.write(line + "\n")
        fh.flush()


def load_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` (an unfinished last line, from a crash, is dropped)."""
    file = Path(path) / METRICS
    if not file.is_file():
        return []
    records = []
    for line in file.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def save_arrays(path: Path, **arrays: Any) -> Path:
    """Save numpy-convertible arrays (tensors too) into the run's ``arrays.npz``, merged with those already there."""
    current = load_arrays(path)
    for key, value in arrays.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        current[key] = np.asarray(value)

    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **current)  # type: ignore[arg-type]
        tmp.write_bytes(buffer.getvalue())

    return provenance._atomic(Path(path) / ARRAYS, write)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the run's ``arrays.npz`` (empty if none were saved)."""
    file = Path(path) / ARRAYS
    if not file.is_file():
        return {}
    with np.load(file, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder (POSIX ``flock``; no-op where unavailable)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path / LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _start(path: Path, kind: str, name: str, config: Mapping[str, Any], ctx: Context, **extra: Any) -> None:
    provenance.write_json(
        path / CONFIG,
        {
            "kind": kind,
            "name": name,
            "key": config_hash(kind, config),
            "config": dict(config),
            "profile": ctx.profile,
            "started": time.time(),
            "provenance": provenance.record(fourier.conventions(), ctx.device, seed=config.get("seed"), **extra),
        },
    )


def _finish(path: Path, result: Mapping[str, Any], started: float) -> None:
    provenance.write_json(path / SUMMARY, {**result, "_seconds": round(time.perf_counter() - started, 3)})


def read_summary(path: Path) -> dict[str, Any]:
    """The finished run's summary (without the framework's timing field)."""
    data = json.loads((Path(path) / SUMMARY).read_text())
    data.pop("_seconds", None)
    return dict(data)


def execute_cell(recipe: Recipe, cell: Cell, ctx: Context) -> CellResult:
    """Run one cell into its folder unless it is finished already; return its result.

    An interrupted cell (a folder without ``summary.json``) starts over: its old metrics and arrays are removed.
    """
    path = run_dir(ctx.runs_root, recipe.name, cell.name, cell.config)
    if not is_done(path):
        with _locked(path):
            if not is_done(path):  # someone else may have finished it while we waited
                for stale in (METRICS, ARRAYS):
                    (path / stale).unlink(missing_ok=True)
                _start(path, recipe.name, cell.name, cell.config, ctx, recipe_title=recipe.title)
                started = time.perf_counter()
                result = recipe.run_cell(cell, path, ctx)
                canonical = json.loads(json.dumps(result, default=provenance._jsonable))
                _finish(path, canonical, started)
    return CellResult(cell, path, read_summary(path))


def train_key_config(train_config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved training config as hashed: every ``TrainConfig`` field except the machine-specific ones.

    A ``callbacks`` entry (names of extra per-epoch analyses in :mod:`freqlens.train.callbacks`, e.g.
    ``["eval_train_lfc"]``) is kept: it changes what the run records.
    """
    from freqlens.train import TrainConfig

    config = dict(train_config)
    extra = [str(name) for name in config.pop("callbacks", [])]
    resolved = TrainConfig.from_dict(config).to_dict()
    key = {k: v for k, v in resolved.items() if k not in MACHINE_FIELDS}
    return {**key, "callbacks": extra} if extra else key


def _callbacks(names: list[str]) -> list[Any]:
    from freqlens.train import callbacks

    found = []
    for name in names:
        fn = getattr(callbacks, name, None)
        if not callable(fn) or name.startswith("_"):
            raise FreqlensError(f"unknown training callback {name!r}; name a function of freqlens.train.callbacks")
        found.append(fn)
    return found


def train_label(key_config: Mapping[str, Any]) -> str:
    """A readable name for a training run: the model and what differs from plain training.

    Example:
        >>> train_label({"model": "small_cnn", "model_kwargs": {"batchnorm": True}, "train_view": "lfc:8:max"})
        'small_cnn-bn-lfc8max'
    """
    kwargs = key_config.get("model_kwargs", {})
    parts = [str(key_config["model"])]
    parts += [tag for key, tag in (("batchnorm", "bn"), ("linear", "linear")) if kwargs.get(key)]
    parts += [f"{key}{kwargs[key]:g}" for key in ("dropout", "depth") if kwargs.get(key)]
    if key_config.get("train_view", "original") != "original":
        parts.append(str(key_config["train_view"]))
    if key_config.get("shuffle_labels"):
        parts.append("shuffled")
    if key_config.get("mixup_alpha"):
        parts.append("mixup")
    if key_config.get("adversarial", "none") != "none":
        parts.append(str(key_config["adversarial"]))
    if key_config.get("weight_decay"):
        parts.append(f"wd{key_config['weight_decay']:g}")
    return "-".join(parts).replace(":", "").replace("/", "_")


def train_run_dir(root: Path, train_config: Mapping[str, Any]) -> Path:
    """The run folder of a training configuration: ``<root>/train/<label>-<hash12>``."""
    key_config = train_key_config(train_config)
    return run_dir(root, TRAIN_KIND, train_label(key_config), key_config)


def ensure_trained(train_config: Mapping[str, Any], ctx: Context) -> tuple[nn.Module, Path]:
    """Train the configured model into its run folder unless a finished run exists; load it on ``ctx.device``.

    The device and data directory come from ``ctx`` and are not part of the hash, so a model trained on one machine
    is reused on another. Interrupted training resumes from the training loop's own per-epoch checkpoint.
    """
    from freqlens.checkpoint import load_model
    from freqlens.train import TrainConfig, train

    key_config = train_key_config(train_config)
    path = train_run_dir(ctx.runs_root, train_config)
    if not is_done(path):
        with _locked(path):
            if not is_done(path):
                fields = {k: v for k, v in key_config.items() if k != "callbacks"}
                machine = {"device": ctx.device, "data_dir": str(ctx.data_dir) if ctx.data_dir else None}
                config = TrainConfig.from_dict({**fields, **machine})
                if not (path / CONFIG).is_file():
                    _start(path, TRAIN_KIND, path.name.rsplit("-", 1)[0], key_config, ctx)
                started = time.perf_counter()
                result = train(
                    config,
                    path / TRAIN_KIND,
                    resume=True,
                    progress=ctx.progress,
                    callbacks=_callbacks(key_config.get("callbacks", [])),
                )
                _finish(path, {"final": result.final, "epochs": len(result.metrics)}, started)
    model, _ = load_model(path / TRAIN_KIND / "model.pt", device=ctx.device)
    return model.eval(), path


# ----------------------------------------------------------------------------------------------------------- index

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    profile TEXT,
    path TEXT NOT NULL,
    started REAL,
    seconds REAL,
    device TEXT,
    config TEXT NOT NULL,
    summary TEXT
)
"""


class Index:
    """The SQLite index of a runs root. It is derived data: :meth:`sync` rebuilds it from the run folders."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "index.sqlite"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        db.execute(_SCHEMA)
        return db

    def sync(self) -> int:
        """Scan the run folders and upsert one row each; rows whose folder vanished are deleted. Returns the count."""
        rows = []
        for config_file in sorted(self.root.glob(f"*/*/{CONFIG}")):
            folder = config_file.parent
            try:
                meta = json.loads(config_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            summary_text, seconds = None, None
            if is_done(folder):
                summary = json.loads((folder / SUMMARY).read_text())
                seconds = summary.pop("_seconds", None)
                summary_text = json.dumps(summary)
            rows.append(
                (
                    meta["key"],
                    meta["kind"],
                    meta["name"],
                    "done" if summary_text is not None else "incomplete",
                    meta.get("profile"),
                    str(folder.relative_to(self.root)),
                    meta.get("started"),
                    seconds,
                    meta.get("provenance", {}).get("environment", {}).get("device"),
                    json.dumps(meta["config"], sort_keys=True),
                    summary_text,
                )
            )
        with contextlib.closing(self._connect()) as db, db:
            db.execute("DELETE FROM runs")
            db.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def query(
        self,
        kind: str | None = None,
        status: str | None = None,
        where: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching the filters; ``where`` maps dotted config paths (``train.model``) to values.

        ``name`` matches with SQL ``LIKE`` (``%`` wildcards).
        """
        clauses, params = [], []
        for column, value in (("kind", kind), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if name is not None:
            clauses.append("name LIKE ?")
            params.append(name)
        for dotted, value in (where or {}).items():
            if not all(part.replace("_", "").isalnum() for part in dotted.split(".")):
                raise FreqlensError(f"filter key {dotted!r} must be a dotted config path such as train.model")
            clauses.append("json_extract(config, ?) = ?")
            params.extend([f"$.{dotted}", value])
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY kind, name"
        with contextlib.closing(self._connect()) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params)]
