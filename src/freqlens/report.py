"""One self-contained HTML page (and a Markdown twin) from the recipe summaries of a reproduction.

Reads ``<out>/reproduce.json`` (when present) and every ``<out>/<recipe>/summary.json``; figures are embedded as
base64 data URIs, so ``report.html`` can be mailed or attached on its own. Every comparison with a paper shows our
value, the paper's value, its provenance tag (legend from ``papers.md`` §0) and a mark: agrees, disagrees or not judged.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from freqlens import provenance
from freqlens.errors import FreqlensError
from freqlens.experiments.base import Comparison, Summary, Table

TAGS = {
    "P": "read in the paper's text",
    "C": "read in the authors' code",
    "F": "read off a figure (±0.03–0.05)",
    "W": "read on a web page or issue",
    "M": "recalled from the paper, not re-checked",
    "I": "inferred by the spec authors",
}
MARKS = {True: ("agrees", "✓"), False: ("disagrees", "✗"), None: ("not judged", "–")}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1b1f23}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.agrees{background:#e6f4ea;color:#137333;font-weight:600}.disagrees{background:#fce8e6;color:#a50e0e;font-weight:600}
.notjudged{color:#5f6368}.tag{font-family:monospace;background:#eef;padding:0 .3em;border-radius:3px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#444;font-size:.9em}
.error{background:#fce8e6;padding:.5em;white-space:pre-wrap;font-family:monospace;font-size:.85em}
code{background:#f3f4f6;padding:0 .25em}
"""


def load_summaries(out_dir: Path) -> list[Summary]:
    """The recipe summaries under ``out_dir``, in the order ``reproduce all`` runs the recipes."""
    from freqlens.experiments import list_recipes

    order = {name: i for i, name in enumerate(list_recipes(include_hidden=True))}
    summaries = [Summary.from_dict(json.loads(p.read_text())) for p in Path(out_dir).glob("*/summary.json")]
    return sorted(summaries, key=lambda s: (order.get(s.recipe, len(order)), s.recipe))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _tags(provenance_text: str) -> list[str]:
    return [t.strip("[] ") for t in provenance_text.split(",")]


def _inline(text: str) -> str:
    """Escape text, then allow Markdown's ``code`` and **bold**."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_inline(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _html_table(columns: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row, cls in zip(rows, classes or [""] * len(rows), strict=True):
        body.append(f'<tr class="{cls}">' + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    cls = ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return f"<td{cls}>{html.escape(_fmt(value))}</td>"


def _comparison_rows(comparisons: list[Comparison]) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for c in comparisons:
        label, mark = MARKS[c.agree]
        tags = " ".join(f'<span class="tag" title="{html.escape(TAGS[t])}">[{t}]</span>' for t in _tags(c.provenance))
        css = label.replace(" ", "")
        rows.append(
            [
                f"<td>{_inline(c.claim)}</td>",
                _cell(c.ours),
                _cell(c.paper),
                f"<td>{tags}</td>",
                f"<td>{_inline(c.expectation)}</td>",
                f'<td class="{css}">{mark} {label}</td>',
                f"<td>{_inline(c.note)}</td>",
            ]
        )
        classes.append(css)
    return rows, classes


def figure_file(out_dir: Path, recipe: str, figure: str) -> Path:
    """The file a summary names as a figure: it must lie inside ``out_dir`` once links are resolved, so a summary
    cannot make the report read (and embed) any other file."""
    root = Path(out_dir).resolve()
    path = (root / recipe / figure).resolve()
    if not path.is_relative_to(root):
        raise FreqlensError(
            f"figure {figure!r} of recipe {recipe!r} lies outside the output folder {root}; a summary may only name "
            "files inside it: re-run the recipe's summary"
        )
    if not path.is_file():
        raise FreqlensError(f"figure {path} named in a summary is missing; re-run the recipe's summary")
    return path


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _score(summaries: list[Summary]) -> list[list[Any]]:
    rows = []
    for s in summaries:
        verdicts = [c.agree for c in s.comparisons]
        rows.append([s.recipe, s.title, verdicts.count(True), verdicts.count(False), verdicts.count(None)])
    return rows


def render_html(out_dir: Path, summaries: list[Summary], meta: dict[str, Any]) -> str:
    """The report page as one HTML string, figures inlined."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>freqlens reproduction ({html.escape(str(meta.get('profile', '')))})</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>freqlens reproduction — profile <code>{html.escape(str(meta.get('profile', '?')))}</code></h1>",
        _paragraphs(_intro(meta)),
        "<h2 id='scoreboard'>Scoreboard</h2>",
        _html_table(
            ["recipe", "experiment", "✓ agree", "✗ disagree", "– not judged"],
            [[_cell(v) for v in row] for row in _score(summaries)],
        ),
        "<p>Provenance tags (from <code>papers.md</code> §0): "
        + "; ".join(f"<span class='tag'>[{t}]</span> {html.escape(d)}" for t, d in TAGS.items())
        + ".</p>",
    ]
    for failure in meta.get("recipes", []):
        if failure.get("errors"):
            parts.append(f"<h2>{html.escape(failure['recipe'])}: failed</h2>")
            parts.extend(f"<div class='error'>{html.escape(e)}</div>" for e in failure["errors"])
    for s in summaries:
        parts.append(
            f"<h2 id='{html.escape(s.recipe)}'>{html.escape(s.title)} <code>{html.escape(s.recipe)}</code></h2>"
        )
        if s.paper_refs:
            parts.append(f"<p><em>Paper: {html.escape('; '.join(s.paper_refs))}</em></p>")
        parts.append(_paragraphs(s.text))
        if s.comparisons:
            rows, classes = _comparison_rows(s.comparisons)
            parts.append(
                _html_table(["claim", "ours", "paper", "source", "criterion", "verdict", "note"], rows, classes)
            )
        parts.extend(_table_html(t) for t in s.tables)
        for f in s.figures:
            uri = _data_uri(figure_file(out_dir, s.recipe, f.path))
            parts.append(
                f"<figure><img src='{uri}' alt='{html.escape(f.caption)}'>"
                f"<figcaption>{_inline(f.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def _table_html(t: Table) -> str:
    return f"<h3>{html.escape(t.title)}</h3>" + _html_table(t.columns, [[_cell(v) for v in row] for row in t.rows])


def _intro(meta: dict[str, Any]) -> str:
    seconds = meta.get("seconds", {})
    lines = [
        "Each experiment of the HFC paper (Wang et al., CVPR 2020), Godfrey et al.'s representation-cost paper and "
        "Yin et al.'s Fourier heat map, run by `freqlens reproduce`, with our numbers next to the values the papers "
        "report. A ✓ means our result meets the stated criterion, ✗ that it does not, – that the claim was not "
        "judged at this scale."
    ]
    if seconds:
        lines.append(
            f"Executor `{meta.get('executor')}`, {meta.get('trainings', 0)} distinct trained models "
            f"({meta.get('trained_now', 0)} trained in this invocation), {meta.get('cells_run_now', 0)} cells run now; "
            f"wall time {seconds.get('total', 0):.0f} s (training {seconds.get('training', 0):.0f} s, cells "
            f"{seconds.get('cells', 0):.0f} s). Runs: `{meta.get('runs_root')}`."
        )
    return "\n\n".join(lines)


def _md(text: str) -> str:
    """Text from a summary for Markdown: HTML in it shows as text (Markdown renderers pass raw HTML through)."""
    return html.escape(text, quote=False)


def _md_code(text: str) -> str:
    """A fenced code block longer than any run of backticks in ``text``, so the text cannot close it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def _md_table(columns: list[str], rows: Iterable[list[Any]]) -> str:
    def esc(v: Any) -> str:
        return _md(_fmt(v)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(out_dir: Path, summaries: list[Summary], meta: dict[str, Any]) -> str:
    """The report as Markdown; figures are linked relative to the output folder. Text from the summaries is
    escaped: Markdown formatting in it works, HTML shows as text."""
    parts = [f"# freqlens reproduction — profile `{_md(str(meta.get('profile', '?')))}`", _md(_intro(meta))]
    parts.append("## Scoreboard")
    parts.append(_md_table(["recipe", "experiment", "✓ agree", "✗ disagree", "– not judged"], _score(summaries)))
    parts.append("Provenance tags: " + "; ".join(f"[{t}] {d}" for t, d in TAGS.items()) + ".")
    for failure in meta.get("recipes", []):
        for e in failure.get("errors", []):
            parts.append(f"**{_md(str(failure['recipe']))} failed:**\n\n{_md_code(str(e))}")
    for s in summaries:
        parts.append(f"## {_md(s.title)} (`{_md(s.recipe)}`)")
        if s.paper_refs:
            parts.append(f"*Paper: {_md('; '.join(s.paper_refs))}*")
        if s.text:
            parts.append(_md(s.text))
        if s.comparisons:
            rows = [
                [c.claim, c.ours, c.paper, f"[{c.provenance}]", c.expectation, " ".join(MARKS[c.agree][::-1]), c.note]
                for c in s.comparisons
            ]
            parts.append(_md_table(["claim", "ours", "paper", "source", "criterion", "verdict", "note"], rows))
        for t in s.tables:
            parts.append(f"### {_md(t.title)}\n\n" + _md_table(t.columns, t.rows))
        for f in s.figures:
            link = figure_file(out_dir, s.recipe, f.path).relative_to(Path(out_dir).resolve()).as_posix()
            parts.append(f"![{_md(f.caption)}]({quote(link)})\n\n*{_md(f.caption)}*")
    return "\n\n".join(parts) + "\n"


def build_report(out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``out_dir`` from the summaries there; returns both paths."""
    out_dir = Path(out_dir)
    summaries = load_summaries(out_dir)
    meta_file = out_dir / "reproduce.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if not summaries and not meta:
        raise FreqlensError(f"no recipe summaries in {out_dir}; run `freqlens reproduce ... --out {out_dir}` first")
    page = render_html(out_dir, summaries, meta)
    return (
        provenance.write_text(out_dir / "report.html", page),
        provenance.write_text(out_dir / "report.md", render_markdown(out_dir, summaries, meta)),
    )
