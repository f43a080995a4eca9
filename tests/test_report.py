"""The report and the reproduce/runs/report commands, on the toy recipe; a real headless-browser render (slow)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import toy_recipe  # noqa: F401  (registers the "toy" recipe)
from freqlens.cli import main
from freqlens.report import build_report


@pytest.fixture
def reproduced(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    code = main(["reproduce", "toy", "--runs", str(tmp_path / "runs"), "--out", str(out), "--device", "cpu"])
    assert code == 0
    return out


def test_report_is_self_contained_with_marks(reproduced: Path) -> None:
    html, md = build_report(reproduced)
    page = html.read_text()
    (uri,) = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert base64.b64decode(uri) == (reproduced / "toy" / "squares.png").read_bytes()
    assert not re.search(r"(src|href)=['\"](?!data:|#)", page)  # nothing external to fetch
    assert page.count('<tr class="agrees">') == 1 and page.count('<tr class="disagrees">') == 1
    assert page.count('<tr class="notjudged">') == 1
    # 1.67 ± 1.2 straddles the threshold 1; the claim whose control passes too is never a ✓
    assert page.count('<tr class="inconclusive">') == 1 and page.count('<tr class="cannotdiscriminate">') == 1
    assert "smallest square plus one: 1.000 ± 0.100 → agrees" in page
    # p-values with their Holm adjustment; the inconclusive claim states the effect this run could detect
    assert "p &lt; 1e-15; Holm &lt; 1e-15 ⊘" in page and "≈ inconclusive (MDE = 6.446)" in page
    # a zero-width interval (all-zero squares, an exact number) is never judged
    assert "all-zero squares: 0.000 → noise not measured" in page and page.count('<tr class="noisenotmeasured">') == 1
    # contents first, then the scoreboard; the not-judged row sits in its own section after the experiments
    assert page.index("id='contents'") < page.index("id='scoreboard'") < page.index("id='toy'")
    assert page.index("id='toy'") < page.index("id='paper-numbers'") < page.index("untested claim")
    assert "<code>x2</code>" in page and "<strong>4</strong>" in page  # inline Markdown in the text
    text = md.read_text()
    assert "| square of 2 | 4.000 | 4.000 | [I] | within ±0 | — | ✓ agrees |" in text
    # scoreboard: Holm-adjusted ✓ and ✗ (within/between carry no p-value: unchanged), then one row of each status
    assert "| toy | Toy recipe (squares) | 1 | 1 | 1 | 1 | 1 | 0 | 1 | 1 | 1 |" in text
    assert "Holm-adjusted over 2 tested claims (family-wise 5 %): ✓ 1  ✗ 1" in text
    assert "✗ disagrees" in text and "![value against its square](toy/squares.png)" in text
    assert text.index("(#paper-numbers)") < text.index('<a id="paper-numbers">') < text.index("untested claim")


def test_cli_runs_lists_and_filters(reproduced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs_root = str(reproduced.parent / "runs")
    capsys.readouterr()
    assert main(["runs", "--runs", runs_root, "--where", "value=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].split()[:3] == ["toy", "x2", "done"] and lines[-1].startswith("1 runs")
    assert main(["runs", "--runs", runs_root, "--recipe", "toy", "--json"]) == 0
    assert capsys.readouterr().out.count('"status": "done"') == 3


def test_cli_reproduce_skips_finished_cells(reproduced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs_root = reproduced.parent / "runs"
    before = sorted(p.stat().st_mtime_ns for p in runs_root.glob("toy/*/summary.json"))
    assert main(["reproduce", "toy", "--runs", str(runs_root), "--out", str(reproduced), "--device", "cpu"]) == 0
    assert sorted(p.stat().st_mtime_ns for p in runs_root.glob("toy/*/summary.json")) == before
    assert main(["report", "-o", str(reproduced)]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "nope"], "unknown experiment"),
        (["reproduce", "quick", "paper"], "conflicting profiles"),
        (["reproduce", "all", "toy"], "either 'all'"),
        (["reproduce", "toy", "--executor", "gpu"], "unknown executor"),
        (["reproduce", "toy", "--slurm", "oops"], "key=value"),
        (["runs", "--status", "weird"], "--status"),
    ],
)
def test_cli_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FREQLENS_RUNS")  # the default runs root, out/runs
    (tmp_path / "out" / "runs").mkdir(parents=True)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not list((tmp_path / "out").glob("*/*/summary.json"))


def test_report_of_an_empty_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-o", str(tmp_path)]) == 2
    assert "no recipe summaries" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _edit_summary(out: Path, change: dict[str, object]) -> None:
    path = out / "toy" / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))


@pytest.mark.parametrize("target", ["absolute", "dotdot", "symlink"])
def test_report_embeds_only_files_inside_the_output_folder(
    reproduced: Path, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not embed me")
    if target == "symlink":  # a link inside the folder pointing out of it counts as outside
        (reproduced / "toy" / "link.png").symlink_to(secret)
    figure = {"absolute": str(secret), "dotdot": "../../secret.txt", "symlink": "link.png"}[target]
    _edit_summary(reproduced, {"figures": [{"path": figure, "caption": "stolen"}]})
    for page in ("report.html", "report.md"):
        (reproduced / page).unlink()
    assert main(["report", "-o", str(reproduced)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: figure") and "outside the output folder" in err and err.count("\n") == 1
    assert not (reproduced / "report.html").exists() and not (reproduced / "report.md").exists()


def test_report_markdown_escapes_html_from_summaries(reproduced: Path) -> None:
    script = "<script>alert(1)</script>"
    _edit_summary(
        reproduced,
        {
            "title": f"Toy {script}",
            "text": f"`x2` is **4** {script}",
            "tables": [{"title": "t <b>", "columns": ["a"], "rows": [["<img src=x onerror=alert(1)>"]]}],
        },
    )
    html_page, md = build_report(reproduced)
    for text in (md.read_text(), html_page.read_text()):
        assert "<script>" not in text and "<img src=x" not in text and "<b>" not in text
    text = md.read_text()
    assert "## Toy &lt;script&gt;alert(1)&lt;/script&gt; (`toy`)" in text
    assert "`x2` is **4** &lt;script&gt;" in text  # Markdown formatting kept
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(reproduced: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium) to render the report")
    html, _ = build_report(reproduced)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "Scoreboard" in dom and dom.count("✓ agrees") == 1 and dom.count("✗ disagrees") == 1
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,3000", html.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)

    def count(rgb: tuple[int, int, int], tol: int = 12) -> int:
        return int((np.abs(pixels - np.array(rgb)).max(axis=1) <= tol).sum())

    assert count((31, 119, 180)) > 20  # matplotlib's blue line: the embedded figure was decoded and drawn
    assert count((230, 244, 234), 2) > 200 and count((252, 232, 230), 2) > 200  # green ✓ and red ✗ rows
