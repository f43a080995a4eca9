"""Run folders keyed by the hash of their resolved config, and a SQLite index over them: storage only.

Layout under a runs root::

    <root>/<kind>/<name>-<hash12>/config.json    kind (recipe name, or "train"), cell name, full key, config,
                                                 provenance (conventions, versions, device), start time
                                   metrics.jsonl  records logged while running (one JSON object a line)
                                   arrays.npz     numpy arrays the cell saved
                                   summary.json   what the cell returned, plus timing; written last = "done"
                                   train/         (training runs) the training loop's own folder: model.pt, ...
    <root>/index.sqlite                          one row per run folder, rebuilt from the folders when stale

A folder whose ``summary.json`` reads as JSON is finished and is skipped on re-runs; a folder without it (or with a
damaged one) was interrupted and is run again. Every file is written atomically, and a lock file keeps two processes
from running the same folder at once. Executing cells is :mod:`freqlens.runner`'s job, training shared models
:mod:`freqlens.trained`'s; this module knows neither.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from freqlens import fourier, provenance, slurm
from freqlens.errors import FreqlensError

CONFIG, METRICS, ARRAYS, SUMMARY, LOCK = "config.json", "metrics.jsonl", "arrays.npz", "summary.json", ".lock"
INDEX = "index.sqlite"
TRAIN_KIND = "train"
STATUSES = ("done", "incomplete", "damaged")


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of a config: sorted keys, no whitespace, finite numbers only."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FreqlensError(
            f"cell config is not plain finite JSON ({exc}); use dicts, lists, str, int, float"
        ) from None


def config_hash(kind: str, config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``kind`` and the canonical JSON of ``config``; it names run folders.

    Example:
        >>> config_hash("demo", {"b": 1, "a": [1, 2]}) == config_hash("demo", {"a": [1, 2], "b": 1})
        True
        >>> config_hash("demo", {"a": 1}) == config_hash("other", {"a": 1})
        False
    """
    return hashlib.sha256(f"{kind}\n{canonical_json(config)}".encode()).hexdigest()


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


def _read_object(file: Path) -> dict[str, Any] | None:
    """The JSON object in ``file``, or ``None`` when it is missing, truncated or not an object."""
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_done(path: Path) -> bool:
    """Whether the run folder holds a finished run: a ``summary.json`` that reads as a JSON object.

    A damaged summary (a truncated file, say) means the run is not done, so it is run again.
    """
    return _read_object(Path(path) / SUMMARY) is not None


def read_config(path: Path) -> dict[str, Any] | None:
    """The run's ``config.json`` record, or ``None`` when it is missing or damaged."""
    return _read_object(Path(path) / CONFIG)


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
def locked(path: Path) -> Iterator[None]:
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


def start_run(
    path: Path,
    kind: str,
    name: str,
    config: Mapping[str, Any],
    device: str,
    profile: str | None = None,
    **extra: Any,
) -> None:
    """Write the run's ``config.json``: what it is (kind, name, key, config), when it started and its provenance (with
    the SLURM job running it, if any)."""
    job = slurm.job_info()
    if job is not None:
        extra = {"job": job, **extra}
    provenance.write_json(
        path / CONFIG,
        {
            "kind": kind,
            "name": name,
            "key": config_hash(kind, config),
            "config": dict(config),
            "profile": profile,
            "started": time.time(),
            "provenance": provenance.record(fourier.conventions(), device, seed=config.get("seed"), **extra),
        },
    )


def finish_run(path: Path, result: Mapping[str, Any], started: float) -> None:
    """Write ``summary.json`` (``result`` plus the seconds since ``started``, a ``perf_counter`` value, and the SLURM
    job that finished it, if any): done."""
    job = slurm.job_info()
    extra = {"_job": job} if job is not None else {}
    provenance.write_json(path / SUMMARY, {**result, "_seconds": round(time.perf_counter() - started, 3), **extra})


def read_summary(path: Path) -> dict[str, Any]:
    """The finished run's summary (without the framework's timing and job fields)."""
    data = _read_object(Path(path) / SUMMARY)
    if data is None:
        raise FreqlensError(f"{Path(path) / SUMMARY} is missing or damaged; run the cell again (freqlens reproduce)")
    data.pop("_seconds", None)
    data.pop("_job", None)
    return data


# ----------------------------------------------------------------------------------------------------------- index

_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE runs (
    path TEXT PRIMARY KEY,
    key TEXT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    problem TEXT,
    profile TEXT,
    started REAL,
    seconds REAL,
    device TEXT,
    config TEXT,
    summary TEXT
);
CREATE TABLE meta (version INTEGER NOT NULL, fingerprint TEXT NOT NULL);
"""
_COLUMNS = 12


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{dotted.path: leaf}`` (the keys ``freqlens runs --where`` accepts).

    Example:
        >>> flat_config({"train": {"model": "small_cnn", "epochs": 2}, "seed": 0})
        {'train.model': 'small_cnn', 'train.epochs': 2, 'seed': 0}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def distinguishing(configs: list[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Per config, its dotted keys whose values differ among ``configs`` (what tells the runs apart).

    Example:
        >>> distinguishing([{"model": "a", "seed": 0}, {"model": "a", "seed": 1}])
        [{'seed': 0}, {'seed': 1}]
    """
    flat = [flat_config(c or {}) for c in configs]
    keys = sorted({k for f in flat for k in f})
    differ = [k for k in keys if len({canonical_json(f.get(k)) for f in flat}) > 1]
    return [{k: f.get(k) for k in differ if k in f} for f in flat]


def _run_folders(root: Path) -> list[Path]:
    """Folders ``<root>/<kind>/<name>`` that hold a run's config or summary (``_``/``.`` kinds are not runs)."""
    return [
        p
        for p in sorted(root.glob("*/*"))
        if p.is_dir() and p.parent.name[:1] not in "_." and ((p / CONFIG).exists() or (p / SUMMARY).exists())
    ]


def _row(root: Path, folder: Path) -> tuple[Any, ...]:
    """The index row of one run folder; a damaged or missing ``config.json`` or ``summary.json`` is named in it."""
    meta, summary = read_config(folder), _read_object(folder / SUMMARY)
    problem = None
    if meta is None:
        problem = f"{CONFIG} {'damaged' if (folder / CONFIG).exists() else 'missing'}"
    elif (folder / SUMMARY).exists() and summary is None:
        problem = f"{SUMMARY} damaged: the run is not done and runs again"
    status = "damaged" if problem else ("done" if summary is not None else "incomplete")
    seconds = summary.pop("_seconds", None) if summary is not None else None
    if summary is not None:
        summary.pop("_job", None)
    meta = meta or {}
    return (
        str(folder.relative_to(root)),
        meta.get("key"),
        meta.get("kind", folder.parent.name),
        meta.get("name", folder.name.rsplit("-", 1)[0]),
        status,
        problem,
        meta.get("profile"),
        meta.get("started"),
        seconds,
        (meta.get("provenance") or {}).get("environment", {}).get("device"),
        json.dumps(meta["config"], sort_keys=True) if "config" in meta else None,
        json.dumps(summary) if summary is not None else None,
    )


class Index:
    """The SQLite index of a runs root: derived data, rebuilt from the run folders whenever it is stale or unreadable.

    Reading it (:meth:`query`) writes nothing while it matches the folders; it is stale when a run folder appeared,
    vanished, or had its ``config.json`` or ``summary.json`` rewritten since the last :meth:`sync`.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / INDEX

    def _fingerprint(self, folders: list[Path]) -> str:
        digest = hashlib.sha256()
        for folder in folders:
            digest.update(str(folder.relative_to(self.root)).encode())
            for file in (CONFIG, SUMMARY):
                with contextlib.suppress(OSError):
                    st = (folder / file).stat()
                    digest.update(f"|{file}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode())
            digest.update(b"\n")
        return digest.hexdigest()

    def _connect(self) -> sqlite3.Connection:
        """A read-only connection to the index file (``sqlite3.Error`` when it is missing or unreadable)."""
        if not self.path.is_file():
            raise sqlite3.OperationalError("no index file")
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)

    def _stored_fingerprint(self) -> str | None:
        try:
            with contextlib.closing(self._connect()) as db:
                row = db.execute("SELECT fingerprint FROM meta WHERE version = ?", (_SCHEMA_VERSION,)).fetchone()
                db.execute("SELECT count(*) FROM runs").fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def is_stale(self) -> bool:
        """Whether the index is missing, unreadable, of an older schema, or out of step with the run folders."""
        return self._stored_fingerprint() != self._fingerprint(_run_folders(self.root))

    def refresh(self) -> bool:
        """Rebuild the index if it is stale (see :meth:`is_stale`); returns whether it did."""
        if not self.is_stale():
            return False
        self.sync()
        return True

    def sync(self) -> int:
        """Rebuild the index from the run folders (one row each) and swap it in atomically. Returns the row count."""
        self.root.mkdir(parents=True, exist_ok=True)
        folders = _run_folders(self.root)
        fingerprint = self._fingerprint(folders)  # before reading: a change while reading leaves the index stale
        rows = [_row(self.root, folder) for folder in folders]
        tmp = self.path.with_name(f"{INDEX}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            with contextlib.closing(sqlite3.connect(tmp)) as db, db:
                db.executescript(_SCHEMA)
                db.executemany(f"INSERT INTO runs VALUES ({','.join('?' * _COLUMNS)})", rows)
                db.execute("INSERT INTO meta VALUES (?, ?)", (_SCHEMA_VERSION, fingerprint))
            for leftover in ("-journal", "-wal", "-shm"):  # a crashed writer's journal must not meet the new file
                self.path.with_name(INDEX + leftover).unlink(missing_ok=True)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(rows)

    def kinds(self) -> list[str]:
        """The kinds (recipe names, ``train``) of the runs in the index (rebuilt first if stale)."""
        self.refresh()
        with contextlib.closing(self._connect()) as db:
            return [row[0] for row in db.execute("SELECT DISTINCT kind FROM runs ORDER BY kind")]

    def query(
        self,
        kind: str | None = None,
        status: str | None = None,
        where: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching the filters (the index is rebuilt first if stale); ``where`` maps dotted config paths
        (``train.model``) to values, and a path that no run of ``kind`` has is an error.

        ``name`` matches with SQL ``LIKE`` (``%`` wildcards).
        """
        if status is not None and status not in STATUSES:
            raise FreqlensError(f"run status (--status) must be one of {', '.join(STATUSES)}, got {status!r}")
        self.refresh()
        base: list[str] = ["kind = ?"] if kind is not None else []
        params: list[Any] = [kind] if kind is not None else []
        clauses, values = list(base), list(params)
        if status is not None:
            clauses.append("status = ?")
            values.append(status)
        if name is not None:
            clauses.append("name LIKE ?")
            values.append(name)
        with contextlib.closing(self._connect()) as db:
            db.row_factory = sqlite3.Row
            for dotted, value in (where or {}).items():
                if not all(part.replace("_", "").isalnum() for part in dotted.split(".")):
                    raise FreqlensError(f"filter key {dotted!r} must be a dotted config path such as train.model")
                self._check_key(db, base, params, kind, dotted)
                clauses.append("json_extract(config, ?) = ?")
                plain = value if value is None or isinstance(value, (str, int, float)) else canonical_json(value)
                values.extend([f"$.{dotted}", plain])
            sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY kind, name"
            return [dict(row) for row in db.execute(sql, values)]

    @staticmethod
    def _check_key(db: sqlite3.Connection, base: list[str], params: list[Any], kind: str | None, dotted: str) -> None:
        """Raise if runs exist (of ``kind``) but none has the config path ``dotted``."""
        scope = " AND ".join([*base, "config IS NOT NULL"])
        if db.execute(f"SELECT 1 FROM runs WHERE {scope} LIMIT 1", params).fetchone() is None:
            return
        hit = f"SELECT 1 FROM runs WHERE {scope} AND json_type(config, ?) IS NOT NULL LIMIT 1"
        if db.execute(hit, [*params, f"$.{dotted}"]).fetchone() is not None:
            return
        leaves = f"SELECT DISTINCT j.fullkey FROM runs, json_tree(runs.config) j WHERE {scope} AND j.atom IS NOT NULL"
        keys = sorted({row[0].removeprefix("$.") for row in db.execute(leaves, params) if "[" not in row[0]})
        whose = f"{kind} run" if kind else "run"
        shown = ", ".join(keys[:40]) + (f", ... ({len(keys) - 40} more)" if len(keys) > 40 else "")
        raise FreqlensError(f"no {whose} has the config key {dotted!r}; its config keys are: {shown}")
