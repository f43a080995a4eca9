"""Run folders, resume, the SQLite index and the executors, on a toy recipe with known outputs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import slurm_work
import toy_recipe
from freqlens import runs
from freqlens.cli import main
from freqlens.errors import FreqlensError
from freqlens.executors import JobFailed, SubmititExecutor, make_executor
from freqlens.experiments import Cell, Comparison, Context, get_recipe, list_recipes
from freqlens.experiments.base import config_hash
from freqlens.runner import execute_cell, reproduce

TESTS_DIR = str(Path(__file__).parent)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(runs_root=tmp_path / "runs", profile="quick")


def test_cell_config_is_canonical_and_hash_ignores_key_order() -> None:
    a = Cell("c", {"b": [1, 2.5], "a": {"y": 1, "x": "s"}})
    b = Cell("c", {"a": {"x": "s", "y": 1}, "b": [1, 2.5]})
    assert a.key("r") == b.key("r") != a.key("other")
    assert Cell("c", {"v": 1}).key("r") != Cell("c", {"v": 2}).key("r")
    assert config_hash("r", {"v": 1}) == a.__class__("d", {"v": 1}).key("r")  # the label does not enter the hash
    with pytest.raises(FreqlensError, match="finite JSON"):
        Cell("c", {"v": float("nan")})
    with pytest.raises(FreqlensError, match="JSON"):
        Cell("c", {"v": object()})
    with pytest.raises(FreqlensError, match="no '/'"):
        Cell("a/b", {})


def test_comparison_rejects_unknown_provenance_and_judges_bands() -> None:
    assert Comparison.between("x", 0.5, 0.4, 0.6, "M").agree is True
    assert Comparison.between("x", 0.7, 0.4, 0.6, "M").agree is False
    assert Comparison.within("x", 0.84, 0.85, 0.05, "F").agree is True
    assert Comparison("x", 1.0, 1.0, "C, I", "same", True).agree
    with pytest.raises(FreqlensError, match="provenance"):
        Comparison("x", 1.0, 1.0, "Q", "same", True)


def test_execute_cell_writes_the_run_folder_and_skips_when_done(ctx: Context) -> None:
    recipe = get_recipe("toy")
    cell = recipe.cells("quick")[2]
    result = execute_cell(recipe, cell, ctx)
    path = result.run_dir
    assert path == ctx.runs_root / "toy" / f"x2-{cell.key('toy')[:12]}"
    config = json.loads((path / "config.json").read_text())
    assert config["config"] == {"value": 2, "seed": 0} and config["key"] == cell.key("toy")
    assert config["provenance"]["conventions"]["disk_mask"].startswith("|k| < r")
    assert config["provenance"]["environment"]["torch"] and config["provenance"]["seed"] == 0
    assert result.summary["square"] == 4
    assert [m.get("square") for m in result.metrics()] == [None, 4]
    np.testing.assert_array_equal(result.arrays()["squares"], [0, 1, 4])
    stamp = (path / "summary.json").stat().st_mtime_ns
    again = execute_cell(recipe, cell, ctx)  # finished: not run again
    assert (path / "summary.json").stat().st_mtime_ns == stamp and again.summary == result.summary


def test_interrupted_cell_is_rerun_from_scratch(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = get_recipe("toy")
    cell = recipe.cells("quick")[1]
    monkeypatch.setenv(toy_recipe.FAIL_ENV, "x1")
    with pytest.raises(RuntimeError, match="planted"):
        execute_cell(recipe, cell, ctx)
    path = runs.run_dir(ctx.runs_root, "toy", "x1", cell.config)
    assert (path / "config.json").is_file() and not runs.is_done(path)
    index = runs.Index(ctx.runs_root)
    index.sync()
    assert [r["status"] for r in index.query(kind="toy")] == ["incomplete"]
    monkeypatch.delenv(toy_recipe.FAIL_ENV)
    result = execute_cell(recipe, cell, ctx)
    assert [m["step"] for m in result.metrics()] == [0, 1]  # the stale record of the failed attempt is gone
    index.sync()
    assert [r["status"] for r in index.query(kind="toy")] == ["done"]


def test_index_filters_by_config_path(ctx: Context) -> None:
    recipe = get_recipe("toy")
    for cell in recipe.cells("quick"):
        execute_cell(recipe, cell, ctx)
    index = runs.Index(ctx.runs_root)
    assert index.sync() == 3
    rows = index.query(where={"value": 1})
    assert [r["name"] for r in rows] == ["x1"] and json.loads(rows[0]["summary"])["square"] == 1
    assert [r["name"] for r in index.query(kind="toy", name="x%")] == ["x0", "x1", "x2"]
    assert index.query(kind="nope") == []
    with pytest.raises(FreqlensError, match="dotted config path"):
        index.query(where={"a') OR 1=1 --": 1})
    with pytest.raises(FreqlensError, match="config keys are: ") as raised:
        index.query(kind="toy", where={"train.value": 1})
    suggested = str(raised.value).split("config keys are: ")[1].split(", ")
    assert "value" in suggested  # every key it suggests is one the filter accepts
    for key in suggested:
        index.query(kind="toy", where={key: 1})


def test_save_arrays_merges_and_is_atomic(tmp_path: Path) -> None:
    runs.save_arrays(tmp_path, a=np.ones(3))
    runs.save_arrays(tmp_path, b=np.zeros(2))
    assert sorted(runs.load_arrays(tmp_path)) == ["a", "b"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _folders(root: Path) -> dict[str, int]:
    return {p.parent.name: json.loads(p.read_text())["square"] for p in sorted(root.glob("toy/*/summary.json"))}


@pytest.mark.parametrize("spec", ["inline", "pool:2", "submitit:local"])
def test_executors_give_the_same_folders_and_index(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Worker processes must import the toy recipe module, as they would a user's own recipe module.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    ctx = Context(runs_root=tmp_path / "runs", profile="quick", executor=spec)
    outcomes = reproduce(["toy"], ctx, make_executor(spec, tmp_path / "logs"), tmp_path / "out").outcomes
    assert [o.errors for o in outcomes] == [[]]
    expected = {f"x{i}-{Cell('x', {'value': i, 'seed': 0}).key('toy')[:12]}": i * i for i in range(3)}
    assert _folders(ctx.runs_root) == expected
    pids = {json.loads(p.read_text())["pid"] for p in ctx.runs_root.glob("toy/*/summary.json")}
    assert (os.getpid() in pids) == (spec == "inline")
    assert [r["status"] for r in runs.Index(ctx.runs_root).query(kind="toy")] == ["done"] * 3
    meta = json.loads((tmp_path / "out" / "reproduce.json").read_text())
    assert meta["cells_run_now"] == 3
    # Running again runs nothing.
    reproduce(["toy"], ctx, make_executor(spec, tmp_path / "logs"), tmp_path / "out")
    assert json.loads((tmp_path / "out" / "reproduce.json").read_text())["cells_run_now"] == 0


def test_a_failing_cell_is_reported_and_the_rest_finish(ctx: Context, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(toy_recipe.FAIL_ENV, "x0")
    (outcome,) = reproduce(["toy"], ctx, make_executor("inline", tmp_path), tmp_path / "out").outcomes
    assert len(outcome.errors) == 1 and "planted failure" in outcome.errors[0] and outcome.summary is None
    assert sorted(p.name.split("-")[0] for p in ctx.runs_root.glob("toy/*") if runs.is_done(p)) == ["x1", "x2"]


def test_executor_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(FreqlensError, match="unknown executor"):
        make_executor("threads", tmp_path)
    with pytest.raises(FreqlensError, match="pool size"):
        make_executor("pool:x", tmp_path)
    with pytest.raises(FreqlensError, match="slurm or local"):
        make_executor("submitit:pbs", tmp_path)


def test_unknown_recipe_and_profile() -> None:
    assert "toy" in list_recipes()
    with pytest.raises(FreqlensError, match="unknown experiment"):
        get_recipe("nope")
    with pytest.raises(FreqlensError, match="unknown profile"):
        Context(runs_root=Path("x"), profile="huge")


def test_run_folder_is_found_by_hash_whatever_its_name(tmp_path: Path) -> None:
    fresh = runs.run_dir(tmp_path, "toy", "new-name", {"value": 1})
    old = fresh.parent / f"old-name-{fresh.name.rsplit('-', 1)[1]}"
    old.mkdir(parents=True)
    assert runs.run_dir(tmp_path, "toy", "new-name", {"value": 1}) == old
    assert runs.run_dir(tmp_path, "toy", "new-name", {"value": 2}).parent == old.parent != old


def test_submitit_options_are_refused_elsewhere_and_defaults_follow_the_profile(tmp_path: Path) -> None:
    with pytest.raises(FreqlensError, match="only for the submitit executors"):
        make_executor("inline", tmp_path, parameters={"cpus_per_task": 1})
    with pytest.raises(FreqlensError, match="only for the submitit executors"):
        make_executor("pool:2", tmp_path, time_cap_min=5)
    local = make_executor("submitit:local", tmp_path, profile="cpu", parameters={"cpus_per_task": 1})
    assert local.spec()["parameters"] == {"timeout_min": 720, "cpus_per_task": 1}


def test_a_killed_local_job_is_a_named_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit's local executor runs the SLURM executor's collection loop: a job killed without a result becomes a
    JobFailed naming it once the grace period has passed, and the other job's result comes back."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    executor = SubmititExecutor(tmp_path / "logs", "local", {"timeout_min": 5}, grace_s=2, poll_s=0.2)
    items = [{"dir": str(tmp_path), "name": name, "seconds": s} for name, s in (("short", 0), ("long", 120))]
    started = tmp_path / f"long.{slurm_work.STARTED}"

    def kill_long() -> None:
        while not started.is_file():
            time.sleep(0.1)
        os.kill(int(started.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=kill_long)
    thread.start()
    short, long = executor.map(slurm_work.nap, items, "naps", ["short", "long"])
    thread.join()
    assert short == {"name": "short", "restarts": 0}
    assert isinstance(long, JobFailed) and long.message.startswith("long: job ")
    assert " LOST: left the queue without a result" in long.message and "\n" not in long.message


def test_runs_lists_the_config_keys_that_tell_same_named_runs_apart(ctx: Context, capsys) -> None:
    recipe = get_recipe("toy")
    for seed in (0, 7):
        execute_cell(recipe, Cell("twin", {"value": 3, "seed": seed}), ctx)
    execute_cell(recipe, Cell("single", {"value": 1, "seed": 0}), ctx)
    capsys.readouterr()
    assert main(["runs", "--runs", str(ctx.runs_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = [lines[i + 1].strip() for i, line in enumerate(lines) if " twin " in line]
    assert sorted(shown) == ["seed=0", "seed=7"]  # only the key that differs, as --where takes it
    single = next(i for i, line in enumerate(lines) if " single " in line)
    assert not lines[single + 1].startswith("    ")  # a run alone under its name gets no such line
