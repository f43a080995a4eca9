"""``freqlens report``: rebuild the HTML and Markdown report from a reproduction's summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freqlens.cli import app


@app.command()
def report(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The folder freqlens reproduce wrote (out/<profile>).")
    ] = Path("out/quick"),
) -> None:
    """Build one self-contained report.html (figures embedded) and report.md from the recipe summaries.

    Examples:
      freqlens report -o out/quick
    """
    from freqlens.report import build_report

    html, md = build_report(out)
    typer.echo(f"wrote {html} and {md}")
