"""Fault injection on stored state: every kind of state file truncated, and what ``runs``, ``report`` and
``reproduce`` do about it (rebuild, re-run, or one line naming the file). Also: listing runs writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toy_recipe  # noqa: F401  (registers the "toy" recipe)
from freqlens import runs
from freqlens.cli import main
from freqlens.experiments import Context, get_recipe
from freqlens.runner import execute_cell
from freqlens.trained import ensure_trained, train_run_dir


def _reproduce(tmp_path: Path) -> int:
    argv = ["reproduce", "toy", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--device", "cpu"]
    return main(argv)


@pytest.fixture
def reproduced(tmp_path: Path) -> Path:
    assert _reproduce(tmp_path) == 0
    return tmp_path


def _truncate(file: Path) -> None:
    text = file.read_text()
    file.write_text(text[: len(text) // 2])


def _cell_dir(root: Path, name: str) -> Path:
    (cell,) = [c for c in get_recipe("toy").cells("quick") if c.name == name]
    return runs.run_dir(root / "runs", "toy", name, cell.config)


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err


def _listing(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    capsys.readouterr()
    assert main(["runs", "--runs", str(root / "runs"), *args]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()[1:-1]]


def test_truncated_run_summary_is_not_done_listed_and_rerun(reproduced: Path, capsys) -> None:
    folder = _cell_dir(reproduced, "x2")
    _truncate(folder / runs.SUMMARY)
    assert not runs.is_done(folder)
    rows = {r[1]: r for r in _listing(reproduced, capsys)}
    assert rows["x2"][2] == "damaged" and "summary.json" in " ".join(rows["x2"]) and rows["x1"][2] == "done"
    assert _reproduce(reproduced) == 0  # runs x2 again, and only x2
    meta = json.loads((reproduced / "out" / "reproduce.json").read_text())
    assert meta["cells_run_now"] == 1 and runs.read_summary(folder)["square"] == 4
    assert [r[2] for r in _listing(reproduced, capsys)] == ["done"] * 3


def test_truncated_run_summary_is_rerun_by_execute_cell(tmp_path: Path) -> None:
    ctx = Context(runs_root=tmp_path / "runs")
    recipe = get_recipe("toy")
    cell = recipe.cells("quick")[1]
    folder = execute_cell(recipe, cell, ctx).run_dir
    _truncate(folder / runs.SUMMARY)
    with pytest.raises(runs.FreqlensError, match="damaged"):
        runs.read_summary(folder)
    assert execute_cell(recipe, cell, ctx).summary["square"] == 1
    assert [m["step"] for m in runs.load_metrics(folder)] == [0, 1]  # started over, not appended to


def test_truncated_run_config_is_listed_as_damaged(reproduced: Path, capsys) -> None:
    _truncate(_cell_dir(reproduced, "x0") / runs.CONFIG)
    rows = _listing(reproduced, capsys)
    assert len(rows) == 3
    (damaged,) = [r for r in rows if r[2] == "damaged"]
    assert damaged[:2] == ["toy", "x0"] and "config.json damaged" in " ".join(damaged)
    assert [r[1] for r in _listing(reproduced, capsys, "--status", "damaged")] == ["x0"]
    capsys.readouterr()
    assert main(["runs", "--runs", str(reproduced / "runs"), "--status", "damaged", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["config"] is None and row["key"] is None and row["summary"]["square"] == 0
    assert _reproduce(reproduced) == 0  # the run itself is finished: reproduce still uses it


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_index_is_rebuilt_from_the_run_folders(reproduced: Path, damage: str, capsys) -> None:
    index = reproduced / "runs" / runs.INDEX
    if damage == "truncate":
        index.write_bytes(index.read_bytes()[:600])
    else:
        index.write_bytes(b"not a database at all" * 50 if damage == "garbage" else b"")
    assert runs.Index(reproduced / "runs").is_stale()
    assert [r[:3] for r in _listing(reproduced, capsys)] == [["toy", f"x{i}", "done"] for i in range(3)]
    assert not runs.Index(reproduced / "runs").is_stale()
    index.write_bytes(b"\0" * 4096)
    assert _reproduce(reproduced) == 0


def test_truncated_recipe_summary_report_names_it_and_reproduce_rewrites_it(reproduced: Path, capsys) -> None:
    out = reproduced / "out"
    _truncate(out / "toy" / "summary.json")
    capsys.readouterr()
    assert main(["report", "-o", str(out)]) == 2
    _one_line_error(capsys, str(out / "toy" / "summary.json"), "freqlens reproduce toy")
    assert _reproduce(reproduced) == 0
    assert main(["report", "-o", str(out)]) == 0


def test_truncated_reproduce_record_report_names_it(reproduced: Path, capsys) -> None:
    out = reproduced / "out"
    _truncate(out / "reproduce.json")
    capsys.readouterr()
    assert main(["report", "-o", str(out)]) == 2
    _one_line_error(capsys, "reproduce.json")
    assert _reproduce(reproduced) == 0 and main(["report", "-o", str(out)]) == 0


def test_truncated_training_summary_resumes_the_training(tmp_path: Path, one_thread) -> None:
    config = {
        "model": "small_cnn",
        "model_kwargs": {"width": 4},
        "data": "synthetic:powerlaw?n=64&size=16&classes=2",
        "epochs": 1,
        "batch_size": 32,
        "eval_radii": [],
    }
    _, folder = ensure_trained(config, tmp_path, progress=False)
    weights = (folder / "train" / "model.pt").read_bytes()
    _truncate(folder / runs.SUMMARY)
    _truncate(folder / runs.CONFIG)
    assert folder == train_run_dir(tmp_path, config) and not runs.is_done(folder)
    model, again = ensure_trained(config, tmp_path, progress=False)
    assert again == folder and runs.is_done(folder) and runs.read_config(folder) is not None
    assert runs.read_summary(folder)["epochs"] == 1 and not model.training
    assert (folder / "train" / "model.pt").read_bytes() == weights  # resumed at the end: nothing trained again


def test_listing_runs_writes_nothing_while_the_index_is_fresh(reproduced: Path, capsys) -> None:
    index = reproduced / "runs" / runs.INDEX
    before = (index.stat().st_ino, index.stat().st_mtime_ns, index.read_bytes())
    for args in ([], ["--recipe", "toy"], ["--where", "value=1"], ["--status", "done"]):
        assert _listing(reproduced, capsys, *args)
    assert (index.stat().st_ino, index.stat().st_mtime_ns, index.read_bytes()) == before
    # A run finished after the last sync (no reproduce to sync it) makes the index stale: the listing shows it.
    recipe = get_recipe("toy")
    execute_cell(recipe, recipe.cells("paper")[3], Context(runs_root=reproduced / "runs"))
    assert [r[1] for r in _listing(reproduced, capsys)] == ["x0", "x1", "x2", "x3"]
    # A rewritten summary (same folders) is noticed too.
    summary = _cell_dir(reproduced, "x1") / runs.SUMMARY
    summary.write_text(json.dumps({"square": 99}))
    capsys.readouterr()
    assert main(["runs", "--runs", str(reproduced / "runs"), "--where", "value=1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == {"square": 99}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--recipe", "nope"], ["unknown recipe 'nope'", "toy"]),
        (["--where", "nope=1"], ["config key 'nope'", "value"]),
        (["--recipe", "toy", "--where", "train.model=x"], ["no toy run", "'train.model'"]),
    ],
)
def test_unknown_recipe_or_where_key_is_an_error(reproduced: Path, args: list[str], words: list[str], capsys) -> None:
    capsys.readouterr()
    assert main(["runs", "--runs", str(reproduced / "runs"), *args]) == 2
    _one_line_error(capsys, *words)


def test_known_recipe_without_runs_and_list_valued_filters(reproduced: Path, capsys) -> None:
    assert _listing(reproduced, capsys, "--recipe", "train") == []
    assert _listing(reproduced, capsys, "--where", "value=[1]") == []  # a list value is compared as JSON, no crash
