"""One self-contained HTML page (and a Markdown twin) from the recipe summaries of a reproduction.

Reads ``<out>/reproduce.json`` (when present) and every ``<out>/<recipe>/summary.json``; figures are embedded as
base64 data URIs, so ``report.html`` can be mailed or attached on its own.

The page opens with a linked contents list and, when any claim was judged, the scoreboard and the calibration table
(A/A contrasts). Each experiment then shows the claims this run judged: our value with its uncertainty, the paper's
value with its provenance tag (legend below the scoreboard and in ``docs/claims.md``), the criterion and the margin it
demands, the placebo control and its outcome, and the verdict (:mod:`freqlens.verdicts`: agrees, disagrees,
inconclusive, not detected at this scale, noise not measured, cannot discriminate), with a diagnosis for every
disagreement, and the p-value behind the mark with its Holm adjustment over all tested claims of the reproduction (the
scoreboard counts both). The paper's numbers that only the paper profile judges follow in a section of their own at
the end. Figures kept in one folder two levels down (``<analysis>/<kind>/<model>.png``, as the audit writes them) are
shown side by side, one column per model.
"""

from __future__ import annotations

import base64
import html
import json
import math
import mimetypes
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from freqlens import provenance, verdicts
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
LABELS = {
    verdicts.AGREE: "agrees",
    verdicts.DISAGREE: "disagrees",
    verdicts.INCONCLUSIVE: "inconclusive",
    verdicts.NOT_DETECTED: "not detected at this scale",
    verdicts.NOISE_NOT_MEASURED: "noise not measured",
    verdicts.UNDISCRIMINATING: "cannot discriminate",
    verdicts.NOT_JUDGED: "not judged",
}
CSS_CLASS = {status: label.replace(" ", "") for status, label in LABELS.items()}
CLAIM_COLUMNS = ["claim", "ours", "paper", "source", "criterion", "placebo control", "verdict", "p (Holm)", "note"]

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1500px;margin:2em auto;padding:0 1em;
color:#1b1f23}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.agrees{background:#e6f4ea;color:#137333;font-weight:600}.disagrees{background:#fce8e6;color:#a50e0e;font-weight:600}
.notjudged{color:#5f6368}.inconclusive{background:#fef7e0;color:#8a5a00;font-weight:600}
.cannotdiscriminate{background:#f1e6fc;color:#6a1b9a;font-weight:600}nav ol{columns:2}
.notdetectedatthisscale{background:#eef3fb;color:#1a4f8a;font-weight:600}
.noisenotmeasured{background:#eeeeee;color:#3c4043;font-weight:600}
.tag{font-family:monospace;background:#eef;padding:0 .3em;border-radius:3px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#444;font-size:.9em}
.error{background:#fce8e6;padding:.5em;white-space:pre-wrap;font-family:monospace;font-size:.85em}
code{background:#f3f4f6;padding:0 .25em}
.row{display:flex;gap:1em;align-items:flex-start}.row figure{flex:1 1 0;min-width:0}
"""


def load_summaries(out_dir: Path) -> list[Summary]:
    """The recipe summaries under ``out_dir``, in the order ``reproduce all`` runs the recipes."""
    from freqlens.experiments import list_recipes

    order = {name: i for i, name in enumerate(list_recipes(include_hidden=True))}
    summaries = []
    for file in sorted(Path(out_dir).glob("*/summary.json")):
        try:
            summaries.append(Summary.from_dict(json.loads(file.read_text())))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise FreqlensError(
                f"{file} is damaged; run `freqlens reproduce {file.parent.name} --out {out_dir}` again to rewrite it"
            ) from None
    return sorted(summaries, key=lambda s: (order.get(s.recipe, len(order)), s.recipe))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _fmt_error(value: float) -> str:
    """A standard error to the report's three decimals: ``< 0.001`` below them, never ``3.63e-11``."""
    return "< 0.001" if 0 < abs(value) < 5e-4 else _fmt(float(value))


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


def _ours(c: Comparison) -> str:
    """Our value with its uncertainty: ``v ± se [low, high], n images`` or ``, k seeds``."""
    if c.estimate is None:
        return _fmt(c.ours)
    e = c.estimate
    text = f"{_fmt(e['value'])}"
    if e.get("stderr"):
        text += f" ± {_fmt_error(e['stderr'])} [{_fmt(e['low'])}, {_fmt(e['high'])}]"
    elif e.get("low") is not None and e.get("high") is not None and e["low"] != e["high"]:
        text += f" [{_fmt(e['low'])}, {_fmt(e['high'])}]"  # an interval without a standard error (Newcombe at 0/n)
    if c.seeds:
        text += f", {c.seeds} seed{'s' if c.seeds > 1 else ''}"
    elif e.get("n"):
        text += f", n={e['n']}"
    return text


def _control(c: Comparison) -> str:
    """``[kind] label: value ± se → status``; without a control, why (a claim of absence) when the recipe said so."""
    if c.control is None:
        return "—"
    e = c.control["estimate"]
    value = _fmt(e["value"]) + (f" ± {_fmt_error(e['stderr'])}" if e.get("stderr") else "")
    kind = f"[{c.control['kind']}] " if c.control.get("kind") else ""
    return f"{kind}{c.control['label']}: {value} → {LABELS[c.control['status']]}"


def _claim(c: Comparison) -> str:
    """The claim with the set-ups it contrasts: ``claim (treatment vs comparison)``."""
    return f"{c.claim} ({c.treatment} vs {c.comparison})" if c.treatment else c.claim


CALIBRATION_COLUMNS = ["recipe", "criterion of", "A/A contrast", "value", "criterion", "outcome"]


def calibration(summaries: Sequence[Summary]) -> tuple[list[list[Any]], str]:
    """The A/A table: every claim's criterion applied to two seed replicates of one set-up (its A/A control), and
    the rate of false ✓ among those that could be judged. A sound interval gives at most 5 %."""
    rows, judged, false = [], 0, 0
    for s in summaries:
        for c in s.comparisons:
            if c.control is None or c.control.get("kind") != "A/A":
                continue
            e, status = c.control["estimate"], c.control["status"]
            interval = f"{_fmt(e['value'])} [{_fmt(e.get('low'))}, {_fmt(e.get('high'))}]"
            rows.append([s.recipe, c.claim, c.control["label"], interval, c.expectation, LABELS[status]])
            if status not in (verdicts.NOISE_NOT_MEASURED, verdicts.NOT_JUDGED):
                judged += 1
                false += status == verdicts.AGREE
    if not judged:
        return rows, "no A/A contrast could be judged (each needs two seeds of its set-up)"
    return rows, f"false ✓ in {false} of {judged} judged A/A contrasts ({100 * false / judged:.0f} %; sound: ≤ 5 %)"


def _verdict(c: Comparison) -> str:
    """The mark and label, with the minimum detectable effect where the claim was not settled."""
    text = f"{verdicts.MARKS[c.status]} {LABELS[c.status]}"
    if c.mde is not None and c.status in (verdicts.INCONCLUSIVE, verdicts.NOT_DETECTED):
        text += f" (MDE = {_fmt(c.mde)})"
    return text


def _p(c: Comparison, holm: tuple[str, float] | None) -> str:
    """``p = x; Holm y ✓`` for a tested claim: its p-value and, over the reproduction's family, the adjusted one."""
    if c.p_value is None:
        return "—"
    text = f"p {_p_text(c.p_value)}"
    if holm is not None and not math.isnan(holm[1]):
        text += f"; Holm {_p_text(holm[1])} {verdicts.MARKS[holm[0]]}"
    return text


def _p_text(p: float) -> str:
    """``= 0.032`` or, below what double precision resolves, ``< 1e-15``."""
    return "< 1e-15" if p < 1e-15 else f"= {p:.2g}"


def holm_marks(summaries: Sequence[Summary]) -> list[list[tuple[str, float]]]:
    """For every comparison of every summary: its Holm-adjusted status and p-value, the family being all tested
    claims of the reproduction (:func:`freqlens.verdicts.holm_adjust`)."""
    flat = [c for s in summaries for c in s.comparisons]
    kept, adjusted = verdicts.holm_adjust([c.status for c in flat], [c.p_value for c in flat])
    pairs = iter(zip(kept, adjusted, strict=True))
    return [[next(pairs) for _ in s.comparisons] for s in summaries]


def _note(c: Comparison) -> str:
    return " ".join(t for t in (c.note, f"Diagnosis: {c.diagnosis}" if c.diagnosis else "") if t)


def _comparison_rows(
    comparisons: list[Comparison], holm: list[tuple[str, float]] | None = None
) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for i, c in enumerate(comparisons):
        tags = " ".join(f'<span class="tag" title="{html.escape(TAGS[t])}">[{t}]</span>' for t in _tags(c.provenance))
        css = CSS_CLASS[c.status]
        rows.append(
            [
                f"<td>{_inline(_claim(c))}</td>",
                f"<td class='num'>{html.escape(_ours(c))}</td>",
                _cell(c.paper),
                f"<td>{tags}</td>",
                f"<td>{_inline(c.expectation)}</td>",
                f"<td>{html.escape(_control(c))}</td>",
                f'<td class="{css}">{html.escape(_verdict(c))}</td>',
                f"<td>{html.escape(_p(c, None if holm is None else holm[i]))}</td>",
                f"<td>{_inline(_note(c))}</td>",
            ]
        )
        classes.append(css)
    return rows, classes


def _judged(s: Summary) -> list[Comparison]:
    return [c for c in s.comparisons if c.status != verdicts.NOT_JUDGED]


def _judged_with(s: Summary, holm: list[tuple[str, float]]) -> tuple[list[Comparison], list[tuple[str, float]]]:
    """The judged comparisons of ``s`` and their Holm marks."""
    kept = [(c, h) for c, h in zip(s.comparisons, holm, strict=True) if c.status != verdicts.NOT_JUDGED]
    return [c for c, _ in kept], [h for _, h in kept]


def _unjudged(s: Summary) -> list[Comparison]:
    return [c for c in s.comparisons if c.status == verdicts.NOT_JUDGED]


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


ADJUSTED = (verdicts.AGREE, verdicts.DISAGREE)
SCORE_COLUMNS = [
    "recipe",
    "experiment",
    *(f"{verdicts.MARKS[st]} Holm" for st in ADJUSTED),
    *(f"{verdicts.MARKS[st]} {LABELS[st]}" for st in verdicts.STATUSES),
]


def _score(summaries: list[Summary]) -> list[list[Any]]:
    """Per recipe: the Holm-adjusted ✓ and ✗ counts (family: all tested claims), then the per-claim counts."""
    rows: list[list[Any]] = []
    for s, holm in zip(summaries, holm_marks(summaries), strict=True):
        statuses, adjusted = [c.status for c in s.comparisons], [st for st, _ in holm]
        counts = [*(adjusted.count(st) for st in ADJUSTED), *(statuses.count(st) for st in verdicts.STATUSES)]
        rows.append([s.recipe, s.title, *counts])
    if len(rows) > 1:
        rows.append(["all", "", *(sum(r[i] for r in rows) for i in range(2, len(SCORE_COLUMNS)))])
    return rows


def score_line(summaries: Sequence[Summary]) -> str:
    """One line for the scoreboard and the CLI: the Holm-adjusted ✓/✗ counts, then the per-claim counts.

    Example:
        >>> score_line([])
        'Holm-adjusted over 0 tested claims (family-wise 5 %): ✓ 0  ✗ 0; per claim: ✓ 0  ✗ 0  ≈ 0  ◌ 0  ? 0  ⊘ 0  – 0'
    """
    flat = [c for s in summaries for c in s.comparisons]
    adjusted = [st for holm in holm_marks(summaries) for st, _ in holm]
    family = sum(c.p_value is not None and c.status in verdicts.TESTED for c in flat)
    statuses = [c.status for c in flat]
    per_claim = "  ".join(f"{verdicts.MARKS[st]} {statuses.count(st)}" for st in verdicts.STATUSES)
    held = "  ".join(f"{verdicts.MARKS[st]} {adjusted.count(st)}" for st in ADJUSTED)
    return f"Holm-adjusted over {family} tested claims (family-wise 5 %): {held}; per claim: {per_claim}"


def _has_claims(summaries: list[Summary]) -> bool:
    return any(s.comparisons for s in summaries)


def _figure_rows(figures: list[Any]) -> list[list[Any]]:
    """Consecutive figures in one folder two levels down (``analysis/kind/model.png``) form a row; others stand
    alone."""
    rows: list[list[Any]] = []
    for f in figures:
        parent = Path(f.path).parent
        if rows and len(parent.parts) >= 2 and Path(rows[-1][-1].path).parent == parent:
            rows[-1].append(f)
        else:
            rows.append([f])
    return rows


def render_html(out_dir: Path, summaries: list[Summary], meta: dict[str, Any]) -> str:
    """The report page as one HTML string, figures inlined."""
    unjudged = [s for s in summaries if _unjudged(s)]
    claims = _has_claims(summaries)
    contents = [f"<li><a href='#{html.escape(s.recipe)}'>{html.escape(s.title)}</a></li>" for s in summaries]
    if claims:
        contents.insert(0, "<li><a href='#scoreboard'>Scoreboard</a></li>")
        if calibration(summaries)[0]:
            contents.insert(1, "<li><a href='#calibration'>Calibration: A/A contrasts</a></li>")
    if unjudged:
        contents.append("<li><a href='#paper-numbers'>Paper numbers not judged at this scale</a></li>")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(_title(meta))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(_title(meta))}</h1>",
        "<nav><h2 id='contents'>Contents</h2><ol>" + "".join(contents) + "</ol></nav>",
        _paragraphs(_intro(meta)),
    ]
    if claims:
        parts += [
            "<h2 id='scoreboard'>Scoreboard</h2>",
            _html_table(SCORE_COLUMNS, [[_cell(v) for v in row] for row in _score(summaries)]),
            f"<p>{html.escape(score_line(summaries))}.</p>",
            *_calibration_html(summaries),
            "<p>Provenance tags: "
            + "; ".join(f"<span class='tag'>[{t}]</span> {html.escape(d)}" for t, d in TAGS.items())
            + ".</p>",
        ]
    for failure in meta.get("recipes", []):
        if failure.get("errors"):
            parts.append(f"<h2>{html.escape(failure['recipe'])}: failed</h2>")
            parts.extend(f"<div class='error'>{html.escape(e)}</div>" for e in failure["errors"])
    for s, marks in zip(summaries, holm_marks(summaries), strict=True):
        parts.append(
            f"<h2 id='{html.escape(s.recipe)}'>{html.escape(s.title)} <code>{html.escape(s.recipe)}</code></h2>"
        )
        if s.paper_refs:
            parts.append(f"<p><em>Paper: {html.escape('; '.join(s.paper_refs))}</em></p>")
        parts.append(_paragraphs(s.text))
        if _judged(s):
            rows, classes = _comparison_rows(*_judged_with(s, marks))
            parts.append(_html_table(CLAIM_COLUMNS, rows, classes))
        parts.extend(_table_html(t) for t in s.tables)
        for row in _figure_rows(list(s.figures)):
            shown = [
                f"<figure><img src='{_data_uri(figure_file(out_dir, s.recipe, f.path))}' "
                f"alt='{html.escape(f.caption)}'><figcaption>{_inline(f.caption)}</figcaption></figure>"
                for f in row
            ]
            parts.append(shown[0] if len(shown) == 1 else "<div class='row'>" + "".join(shown) + "</div>")
    if unjudged:
        parts.append("<h2 id='paper-numbers'>Paper numbers not judged at this scale</h2>")
        parts.append(_paragraphs(UNJUDGED_TEXT))
        for s in unjudged:
            rows, classes = _comparison_rows(_unjudged(s))
            parts.append(f"<h3>{html.escape(s.title)} <code>{html.escape(s.recipe)}</code></h3>")
            parts.append(_html_table(CLAIM_COLUMNS, rows, classes))
    parts.append("</body></html>")
    return "\n".join(parts)


CALIBRATION_TEXT = (
    "Each claim whose placebo is an A/A contrast is also judged on two seed replicates of its comparison set-up, "
    "where no effect exists. Such a contrast meets its claim's criterion (a false ✓) in at most 5 % of the cases "
    "when the intervals are sound. With two seeds per run, each A/A contrast is one pair of seeds and its interval "
    "covers the test images only, so this rate also shows how far seed-to-seed differences exceed image noise."
)


def _calibration_html(summaries: Sequence[Summary]) -> list[str]:
    rows, rate = calibration(summaries)
    if not rows:
        return []
    return [
        "<h2 id='calibration'>Calibration: A/A contrasts</h2>",
        f"<p>{html.escape(CALIBRATION_TEXT)} <strong>{html.escape(rate)}.</strong></p>",
        _html_table(CALIBRATION_COLUMNS, [[_cell(v) for v in row] for row in rows]),
    ]


UNJUDGED_TEXT = (
    "The papers' absolute numbers, listed beside ours for reference. They depend on the papers' architectures, "
    "epochs and data, so only the paper profile judges them."
)


def _table_html(t: Table) -> str:
    return f"<h3>{html.escape(t.title)}</h3>" + _html_table(t.columns, [[_cell(v) for v in row] for row in t.rows])


def _is_audit(meta: dict[str, Any]) -> bool:
    recipes = [r.get("recipe") for r in meta.get("recipes", [])]
    return bool(recipes) and all(r == "audit" for r in recipes)


def _title(meta: dict[str, Any]) -> str:
    if _is_audit(meta):
        return "freqlens audit"
    return f"freqlens reproduction — profile {meta.get('profile', '?')}"


AUDIT_TEXT = (
    "The models below were audited side by side by `freqlens audit`: every analysis ran on each model with the same "
    "images, and each analysis has one table (a column per model) and its figures, one column per model. Methods: "
    "LFC/HFC views (Wang et al., CVPR 2020, §3), the Fourier heat map (Yin et al., NeurIPS 2019, §3), gradient "
    "sensitivity against the data spectrum, first-layer kernels (Wang et al., §5.1), spectra of adversarial "
    "perturbations and band-limited attacks."
)


REPRODUCE_TEXT = (
    "Each experiment of the HFC paper (Wang et al., CVPR 2020), Godfrey et al.'s representation-cost paper and "
    "Yin et al.'s Fourier heat map, run by `freqlens reproduce`, with our numbers next to the values the papers "
    "report. Every verdict is judged on the 95 % interval of our value: ✓ the whole interval meets the "
    "criterion (with the margin the claim demands), ✗ it lies wholly outside, ≈ inconclusive (the interval "
    "straddles the threshold: inside the noise; MDE is the smallest effect this run detects at 80 % power), "
    "◌ not detected at this scale (the predicted effect, or an equivalence margin, is below the MDE), ? noise not "
    "measured (a zero-width interval, e.g. one seed of a quantity the test images do not move: never judged). "
    "Claims of no effect are equivalence tests (TOST) within a stated margin. Each claim also runs a placebo "
    "control of a stated kind (docs/claims.md): the same criterion where no effect is predicted (a second seed of "
    "the comparison set-up, an untrained model, permuted labels, a band where the theory predicts nothing); a claim "
    "whose placebo passes too is marked ⊘ cannot discriminate, never ✓. – not judged at this scale. Each tested "
    "claim's p-value (✓ or ✗ exactly when p < 0.05) is adjusted by Holm's method over all tested claims of the "
    "run; the scoreboard's Holm columns count the marks that survive at family-wise 5 %."
)


def _intro(meta: dict[str, Any]) -> str:
    seconds = meta.get("seconds", {})
    seeds = meta.get("seeds", 1)
    lines = [AUDIT_TEXT if _is_audit(meta) else REPRODUCE_TEXT]
    if seconds and _is_audit(meta):
        lines.append(
            f"{meta.get('cells_run_now', 0)} cells run now; wall time {seconds.get('total', 0):.0f} s. "
            f"Runs: `{meta.get('runs_root')}`."
        )
    elif seconds:
        lines.append(
            f"Executor `{meta.get('executor')}`, {meta.get('trainings', 0)} distinct trained models "
            f"({meta.get('trained_now', 0)} trained in this invocation), {meta.get('cells_run_now', 0)} cells run now; "
            f"wall time {seconds.get('total', 0):.0f} s (training {seconds.get('training', 0):.0f} s, cells "
            f"{seconds.get('cells', 0):.0f} s). Runs: `{meta.get('runs_root')}`. Seeds per cell: at least {seeds}"
            " (a recipe that needs the training noise runs its own minimum; each claim says how many seeds its "
            "interval spans)."
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


def _md_claims(comparisons: list[Comparison], holm: list[tuple[str, float]] | None = None) -> str:
    rows = [
        [
            _claim(c),
            _ours(c),
            c.paper,
            f"[{c.provenance}]",
            c.expectation,
            _control(c),
            _verdict(c),
            _p(c, None if holm is None else holm[i]),
            _note(c),
        ]
        for i, c in enumerate(comparisons)
    ]
    return _md_table(CLAIM_COLUMNS, rows)


def render_markdown(out_dir: Path, summaries: list[Summary], meta: dict[str, Any]) -> str:
    """The report as Markdown; figures are linked relative to the output folder. Text from the summaries is
    escaped: Markdown formatting in it works, HTML shows as text."""
    unjudged = [s for s in summaries if _unjudged(s)]
    first = 2 if _has_claims(summaries) else 1
    contents = [f"{i}. [{_md(s.title)}](#{quote(s.recipe)})" for i, s in enumerate(summaries, first)]
    if unjudged:
        contents.append(f"{len(summaries) + first}. [Paper numbers not judged at this scale](#paper-numbers)")
    claims = _has_claims(summaries)
    parts = [
        f"# {_md(_title(meta))}",
        "## Contents\n\n" + ("1. [Scoreboard](#scoreboard)\n" if claims else "") + "\n".join(contents),
        _md(_intro(meta)),
    ]
    if claims:
        parts.append("## Scoreboard")
        parts.append(_md_table(SCORE_COLUMNS, _score(summaries)))
        parts.append(_md(score_line(summaries)) + ".")
        rows, rate = calibration(summaries)
        if rows:
            parts.append(f"## Calibration: A/A contrasts\n\n{_md(CALIBRATION_TEXT)} **{_md(rate)}.**")
            parts.append(_md_table(CALIBRATION_COLUMNS, rows))
        parts.append("Provenance tags: " + "; ".join(f"[{t}] {d}" for t, d in TAGS.items()) + ".")
    for failure in meta.get("recipes", []):
        for e in failure.get("errors", []):
            parts.append(f"**{_md(str(failure['recipe']))} failed:**\n\n{_md_code(str(e))}")
    for s, marks in zip(summaries, holm_marks(summaries), strict=True):
        parts.append(f'<a id="{html.escape(s.recipe)}"></a>\n\n## {_md(s.title)} (`{_md(s.recipe)}`)')
        if s.paper_refs:
            parts.append(f"*Paper: {_md('; '.join(s.paper_refs))}*")
        if s.text:
            parts.append(_md(s.text))
        if _judged(s):
            parts.append(_md_claims(*_judged_with(s, marks)))
        for t in s.tables:
            parts.append(f"### {_md(t.title)}\n\n" + _md_table(t.columns, t.rows))
        for f in s.figures:
            link = figure_file(out_dir, s.recipe, f.path).relative_to(Path(out_dir).resolve()).as_posix()
            parts.append(f"![{_md(f.caption)}]({quote(link)})\n\n*{_md(f.caption)}*")
    if unjudged:
        parts.append('<a id="paper-numbers"></a>\n\n## Paper numbers not judged at this scale')
        parts.append(UNJUDGED_TEXT)
        for s in unjudged:
            parts.append(f"### {_md(s.title)} (`{_md(s.recipe)}`)\n\n" + _md_claims(_unjudged(s)))
    return "\n\n".join(parts) + "\n"


def build_report(out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``out_dir`` from the summaries there; returns both paths."""
    out_dir = Path(out_dir)
    summaries = load_summaries(out_dir)
    meta_file = out_dir / "reproduce.json"
    try:
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    except ValueError:
        raise FreqlensError(f"{meta_file} is damaged; run `freqlens reproduce ... --out {out_dir}` again") from None
    if not summaries and not meta:
        raise FreqlensError(f"no recipe summaries in {out_dir}; run `freqlens reproduce ... --out {out_dir}` first")
    page = render_html(out_dir, summaries, meta)
    return (
        provenance.write_text(out_dir / "report.html", page),
        provenance.write_text(out_dir / "report.md", render_markdown(out_dir, summaries, meta)),
    )
