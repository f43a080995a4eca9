"""The recipe interface: an experiment is a list of cells, a function that runs one cell, and a summary.

A **cell** is one fully resolved, JSON-serialisable configuration; the hash of ``(recipe, config)`` names its run
folder, so re-running a recipe skips cells whose folder is finished. A **recipe** declares its cells per profile
(``quick`` for a CPU, ``paper`` for the papers' own set-up on a GPU), runs one cell into a run folder, and turns the
results of all its cells into a :class:`Summary`: figures, tables, and comparisons with the values the papers report,
each with its provenance tag from ``papers.md`` and an agree/disagree mark.

Writing a recipe::

    @register_recipe
    class TableOne(Recipe):
        name = "hfc-e4"
        title = "Train on LFC or HFC only, test on originals (HFC Table 1)"
        paper_refs = ("HFC E4", "Table 1", "papers.md §1.4")

        def cells(self, profile):
            return [Cell("lfc-8", {"train": ...}), ...]

        def run_cell(self, cell, run_dir, ctx):
            model, _ = ctx.trained_model(cell.config["train"])
            ...                                 # runs.log_metrics(run_dir, {...}); runs.save_arrays(run_dir, ...)
            return {"test_accuracy": acc}       # becomes summary.json

        def summarize(self, results, out_dir, ctx):
            ...                                 # ctx.profile: quick or paper
            return Summary(self.name, self.title, self.paper_refs, text=..., figures=[...], comparisons=[...])

A cell's ``"train"`` entry, when present and not ``None``, is the training set-up it needs: the runner trains (and
shares) it before running cells. Override :meth:`Recipe.trainings` for cells that need other or more models.

Cells must not contain the device or the data directory: those come from the :class:`Context`, so a run folder means
the same thing on a laptop and on a cluster.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from freqlens import runs, stats, trained, verdicts
from freqlens.errors import FreqlensError
from freqlens.runs import canonical_json, config_hash
from freqlens.stats import Estimate

if TYPE_CHECKING:
    from torch import nn

    from freqlens.data import ImageSet

PROFILES = ("quick", "cpu", "paper")
PROVENANCE_TAGS = ("P", "C", "F", "W", "M", "I")
SEED_STRIDE = 1000  # replicate r of a cell uses seeds shifted by r * SEED_STRIDE
_DATASETS: dict[tuple[str, str, str], ImageSet] = {}  # loaded once per process, shared by all contexts


@dataclass(frozen=True, eq=False)
class Cell:
    """One fully resolved configuration of a recipe; ``name`` is a human label, ``config`` is what is hashed.

    Example:
        >>> Cell("lfc-8", {"radius": 8}).config
        {'radius': 8}
    """

    name: str
    config: dict[str, Any]

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise FreqlensError(f"cell name {self.name!r} must be non-empty and contain no '/'")
        object.__setattr__(self, "config", json.loads(canonical_json(self.config)))

    @property
    def replicate(self) -> int:
        """Which independent repetition (training seed) of the cell this is; 0 for the first."""
        return int(self.config.get("replicate", 0))

    def with_replicate(self, replicate: int) -> Cell:
        """The same cell trained and measured under another seed: every integer ``"seed"`` in the config, nested
        training set-ups included, is shifted by ``SEED_STRIDE * replicate`` and ``"replicate"`` is recorded.
        Replicate 0 is the cell itself, so its run folder (and hash) is unchanged.

        Example:
            >>> Cell("a", {"seed": 1, "train": {"seed": 0, "lr": 0.1}}).with_replicate(2).config
            {'replicate': 2, 'seed': 2001, 'train': {'lr': 0.1, 'seed': 2000}}
        """
        if replicate == 0:
            return self

        def shift(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: v + SEED_STRIDE * replicate if k == "seed" and isinstance(v, int) else shift(v)
                    for k, v in node.items()
                }
            if isinstance(node, list):
                return [shift(v) for v in node]
            return node

        return Cell(self.name, {**shift(self.config), "replicate": replicate})

    def key(self, recipe: str) -> str:
        """The hash naming this cell's run folder within ``recipe``."""
        return config_hash(recipe, self.config)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config}


@dataclass
class Context:
    """What a recipe needs from its surroundings: device, data location, profile, where runs live.

    ``trained_model`` and ``dataset`` are the two services recipes use to share work: a training configuration is
    itself a cached run (keyed by its hash), and datasets are loaded once per process.
    """

    runs_root: Path
    profile: str = "quick"
    device: str = "cpu"
    data_dir: Path | None = None
    executor: str = "inline"
    progress: bool = True
    seeds: int = 1  # independent repetitions of every cell (replicates 0..seeds-1, each its own run folder)
    first_seed: int = 0  # the first replicate: replicates first_seed..first_seed+seeds-1 run

    def __post_init__(self) -> None:
        self.runs_root = Path(self.runs_root)
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
        if self.profile not in PROFILES:
            raise FreqlensError(f"unknown profile {self.profile!r}; use one of {', '.join(PROFILES)}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise FreqlensError(f"--seeds must be a positive integer, got {self.seeds!r}")
        if isinstance(self.first_seed, bool) or not isinstance(self.first_seed, int) or self.first_seed < 0:
            raise FreqlensError(f"--first-seed must be a non-negative integer, got {self.first_seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """Picklable/JSON form, for workers in other processes."""
        return {
            "runs_root": str(self.runs_root),
            "profile": self.profile,
            "device": self.device,
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
            "executor": self.executor,
            "progress": self.progress,
            "seeds": self.seeds,
            "first_seed": self.first_seed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Context:
        keys = ("runs_root", "profile", "device", "data_dir", "executor", "progress", "seeds", "first_seed")
        return cls(**{k: d[k] for k in keys if k in d})

    def dataset(self, spec: str, split: str) -> ImageSet:
        """A dataset by name (``cifar10``, ``synthetic:...``, a folder), loaded once per process from ``data_dir``."""
        key = (spec, split, str(self.data_dir))
        if key not in _DATASETS:
            from freqlens.data import open_dataset

            _DATASETS[key] = open_dataset(spec, split, self.data_dir)
        return _DATASETS[key]

    def trained_model(self, train_config: Mapping[str, Any]) -> tuple[nn.Module, Path]:
        """The model a training configuration produces, trained now only if no finished run has it.

        Returns the model (in eval mode, on ``self.device``) and its run folder. Training resumes from its last
        per-epoch checkpoint if an earlier attempt was interrupted.
        """
        return trained.ensure_trained(train_config, self.runs_root, self.device, self.data_dir, self.progress)


@dataclass
class CellResult:
    """A finished cell as the summary step sees it: the cell, its run folder and the dict ``run_cell`` returned."""

    cell: Cell
    run_dir: Path
    summary: dict[str, Any]

    @property
    def replicate(self) -> int:
        """Which repetition (seed) of its cell this result is."""
        return self.cell.replicate

    def arrays(self) -> dict[str, Any]:
        """The numpy arrays the cell saved with :func:`freqlens.runs.save_arrays`."""
        return runs.load_arrays(self.run_dir)

    def metrics(self) -> list[dict[str, Any]]:
        """The records the cell logged with :func:`freqlens.runs.log_metrics`."""
        return runs.load_metrics(self.run_dir)


def by_cell(results: Sequence[CellResult]) -> dict[str, list[CellResult]]:
    """Results grouped by cell name, each group holding the cell's replicates (seeds) in replicate order.

    Recipes turn a group into an :class:`~freqlens.stats.Estimate` with ``Estimate.mean_of`` over seeds (or a
    binomial estimate from the test images when there is one seed).
    """
    groups: dict[str, list[CellResult]] = {}
    for result in sorted(results, key=lambda r: r.replicate):
        groups.setdefault(result.cell.name, []).append(result)
    return groups


@dataclass
class Comparison:
    """One of our results next to what a paper reports.

    ``paper`` is the reported value (a number, or text such as ``"0.60-0.78"`` or ``"rises with r"``), ``provenance``
    its tag from ``papers.md`` (``P`` paper text, ``C`` code, ``F`` figure, ``W`` web, ``M`` recalled, ``I``
    inferred), ``expectation`` the criterion we judged by, and ``agree`` the verdict (``None``: not judged, e.g. the
    quick profile is too small for this claim). A measured claim (:meth:`measured`, :meth:`equivalent`) also
    records the p-value of the test behind its mark and the minimum detectable effect of the run.
    """

    claim: str
    ours: float | str | None
    paper: float | str | None
    provenance: str
    expectation: str
    agree: bool | None
    note: str = ""
    status: str = ""  # one of freqlens.verdicts.STATUSES; derived from ``agree`` when empty
    estimate: dict[str, Any] | None = None  # the Estimate the verdict read (value, stderr, interval, n, method)
    control: dict[str, Any] | None = None  # the negative control: {"label", "estimate", "status"}
    seeds: int | None = None  # independent training runs behind ``estimate`` (None: no training noise measured)
    diagnosis: str = ""  # for a disagreement: scale, protocol difference or genuine non-replication, with evidence
    p_value: float | None = None  # p-value behind the mark (✓/✗ exactly when < 0.05); Holm adjusts it in the report
    mde: float | None = None  # smallest effect (or equivalence margin) this run detects at 80 % power
    treatment: str = ""  # the set-up whose statistic the claim reads ...
    comparison: str = ""  # ... minus the same statistic of this one

    def __post_init__(self) -> None:
        tags = [t.strip("[] ") for t in self.provenance.split(",")]
        if not all(t in PROVENANCE_TAGS for t in tags):
            raise FreqlensError(
                f"provenance {self.provenance!r} must be tags of docs/claims.md ({', '.join(PROVENANCE_TAGS)})"
            )
        if isinstance(self.ours, float) and not math.isfinite(self.ours):
            self.ours = str(self.ours)
        if not self.status:
            self.status = (
                verdicts.AGREE if self.agree else verdicts.NOT_JUDGED if self.agree is None else verdicts.DISAGREE
            )
        if self.status not in verdicts.STATUSES:
            raise FreqlensError(f"unknown verdict status {self.status!r}; use one of {', '.join(verdicts.STATUSES)}")
        self.agree = verdicts.agree_flag(self.status)

    def not_judged(self, note: str) -> Comparison:
        """Mark this comparison as not judged at this scale, saying why."""
        self.status, self.agree, self.note = verdicts.NOT_JUDGED, None, note
        return self

    @classmethod
    def measured(
        cls,
        claim: str,
        estimate: Estimate,
        op: verdicts.Op,
        threshold: float,
        paper: float | str | None,
        provenance: str,
        *,
        control: Estimate | None = None,
        control_label: str = "",
        control_kind: str = "",
        treatment: str = "",
        comparison: str = "",
        seeds: int | None = None,
        note: str = "",
        diagnosis: str = "",
        effect: float | None = None,
    ) -> Comparison:
        """A claim judged as a measurement: ``estimate op threshold`` on its 95 % interval, with a negative control.

        ``threshold`` is the margin the claim demands (0 for a bare direction). ``control`` is the same quantity
        where no effect is predicted (a placebo of kind ``control_kind``, see
        :data:`freqlens.experiments.contrasts.CONTROL_KINDS`); if it passes too, the claim is marked "cannot
        discriminate". ``treatment`` and ``comparison`` name the two set-ups the estimate contrasts. ``effect``:
        the value the claim predicts (the paper's); an inconclusive claim whose predicted effect lies within the
        run's minimum detectable effect of the threshold is "not detected at this scale". A zero-width interval is
        never judged ("noise not measured").

        Example:
            >>> from freqlens.stats import Estimate
            >>> c = Comparison.measured("BN > vanilla on HFC(4)", Estimate.proportion(65, 100) - 0.12, ">", 0.2,
            ...                         "0.65 vs 0.12", "F", control=Estimate.proportion(12, 100) - 0.12,
            ...                         control_label="vanilla vs itself")
            >>> c.status, c.control["status"], c.p_value < 0.05
            ('agree', 'disagree', True)
        """
        status, control_status = verdicts.verdict(estimate, op, threshold, control, effect)
        test = (f"{op} {threshold:g} (95% interval)", status, verdicts.decision_p(estimate, op, threshold))
        controlled = (control, control_label, control_status)
        return cls._judged(
            claim,
            estimate,
            paper,
            provenance,
            test,
            stats.mde(estimate),
            controlled,
            seeds,
            note,
            diagnosis,
            roles=(control_kind, treatment, comparison),
        )

    @classmethod
    def equivalent(
        cls,
        claim: str,
        estimate: Estimate,
        margin: float,
        paper: float | str | None,
        provenance: str,
        *,
        control: Estimate | None = None,
        control_label: str = "",
        control_kind: str = "",
        treatment: str = "",
        comparison: str = "",
        seeds: int | None = None,
        note: str = "",
        diagnosis: str = "",
    ) -> Comparison:
        """A claim of no effect ("dropout reads the HFC as vanilla does"): ``estimate`` (a difference) lies within
        ``±margin``, by two one-sided tests at 5 % (TOST: the 90 % interval inside the margin). ✗ when the 95 %
        interval lies wholly beyond the margin; "not detected at this scale" when the margin is smaller than this
        run can show (its ``mde`` is the smallest margin TOST shows at 80 % power). ``control``: a set-up where an
        effect is expected; if it too looks equivalent, the claim cannot discriminate.

        Example:
            >>> from freqlens.stats import Estimate
            >>> c = Comparison.equivalent("dropout ≈ vanilla", Estimate.proportion(300, 1000)
            ...                           - Estimate.proportion(310, 1000), 0.06, "≈", "F")
            >>> c.status, c.expectation
            ('agree', '|difference| < 0.06 (TOST, two one-sided 5% tests)')
        """
        status, control_status = verdicts.equivalence_verdict(estimate, margin, control)
        test = (
            f"|difference| < {margin:g} (TOST, two one-sided 5% tests)",
            status,
            verdicts.equivalence_p(estimate, margin),
        )
        mde, controlled = stats.equivalence_margin(estimate), (control, control_label, control_status)
        return cls._judged(
            claim,
            estimate,
            paper,
            provenance,
            test,
            mde,
            controlled,
            seeds,
            note,
            diagnosis,
            roles=(control_kind, treatment, comparison),
        )

    @classmethod
    def _judged(
        cls,
        claim: str,
        estimate: Estimate,
        paper: float | str | None,
        provenance: str,
        test: tuple[str, str, float],
        mde: float,
        controlled: tuple[Estimate | None, str, str | None],
        seeds: int | None,
        note: str,
        diagnosis: str,
        roles: tuple[str, str, str] = ("", "", ""),
    ) -> Comparison:
        """The comparison of a test: ``test`` is (criterion text, status, p-value), ``controlled`` the control's
        (estimate, label, status), ``roles`` the control's kind, the treatment and the comparison set-up; an untested
        claim (noise not measured) records no p-value or MDE."""
        expectation, status, p_value = test
        control, control_label, control_status = controlled
        control_kind, treatment, comparison = roles
        tested = status != verdicts.NOISE_NOT_MEASURED
        return cls(
            claim,
            str(estimate),
            paper,
            provenance,
            expectation,
            verdicts.agree_flag(status),
            note,
            status,
            estimate.to_dict(),
            None
            if control is None
            else {
                "label": control_label,
                "kind": control_kind,
                "estimate": control.to_dict(),
                "status": control_status,
            },
            seeds,
            diagnosis,
            p_value if tested and math.isfinite(p_value) else None,
            mde if tested and math.isfinite(mde) else None,
            treatment,
            comparison,
        )

    @classmethod
    def within(
        cls, claim: str, ours: float, paper: float, tolerance: float, provenance: str, note: str = ""
    ) -> Comparison:
        """Agree when ``|ours - paper| <= tolerance``."""
        return cls(claim, ours, paper, provenance, f"within ±{tolerance:g}", abs(ours - paper) <= tolerance, note)

    @classmethod
    def between(
        cls, claim: str, ours: float, low: float, high: float, provenance: str, paper: Any = None, note: str = ""
    ) -> Comparison:
        """Agree when ``low <= ours <= high``; the paper value defaults to the band itself."""
        paper = paper if paper is not None else f"{low:g}–{high:g}"
        return cls(claim, ours, paper, provenance, f"in [{low:g}, {high:g}]", low <= ours <= high, note)


@dataclass
class Figure:
    """A figure file (relative to the recipe's output folder) and its caption."""

    path: str
    caption: str


@dataclass
class Table:
    """A small table: column names and rows of cells (numbers or text)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Summary:
    """What a recipe reports: Markdown text, figures, tables and comparisons with the papers."""

    recipe: str
    title: str
    paper_refs: Sequence[str]
    text: str = ""
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    # set-up name -> the training runs (hashes) behind its replicates: which models this run shares with another
    models: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["paper_refs"] = list(self.paper_refs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        return cls(
            recipe=d["recipe"],
            title=d["title"],
            paper_refs=tuple(d.get("paper_refs", ())),
            text=d.get("text", ""),
            figures=[Figure(**f) for f in d.get("figures", [])],
            tables=[Table(**t) for t in d.get("tables", [])],
            comparisons=[Comparison(**c) for c in d.get("comparisons", [])],
            models=dict(d.get("models", {})),
        )


class Recipe(ABC):
    """An experiment: cells per profile, how to run one cell, how to summarise all of them."""

    name: ClassVar[str]
    title: ClassVar[str]
    paper_refs: ClassVar[tuple[str, ...]] = ()
    in_all: ClassVar[bool] = True  # False: run only when named (e.g. the synthetic demo), not by ``reproduce all``
    # Replicates a profile runs at least, whatever ``--seeds`` asks: for an outcome that depends on the training seed
    # at that scale, so that its marks carry the training noise (the spread over seeds).
    min_seeds: ClassVar[dict[str, int]] = {}

    def replicates(self, ctx: Context) -> range:
        """The replicates (seeds) of every cell under ``ctx``: ``ctx.seeds`` of them, or ``min_seeds``.

        ``ctx.first_seed`` K starts at replicate K, or at K times the count where the recipe runs at least two seeds
        per run (``min_seeds``), so that runs with different first seeds share no model.

        Example:
            >>> class Two(Recipe):
            ...     name, min_seeds = "two", {"quick": 2}
            ...     cells = run_cell = summarize = None
            >>> list(Two.replicates(Two(), Context("runs", first_seed=1)))
            [2, 3]
        """
        block = self.min_seeds.get(ctx.profile, 1)
        count = max(ctx.seeds, block)
        start = ctx.first_seed * (count if block > 1 else 1)
        return range(start, start + count)

    @abstractmethod
    def cells(self, profile: str) -> list[Cell]:
        """The fully resolved cells of this experiment under ``profile`` (``quick`` or ``paper``)."""

    def trainings(self, cell: Cell) -> list[dict[str, Any]]:
        """Training configurations ``cell`` needs; the runner trains (and shares) them before running cells.

        By default the cell's ``"train"`` set-up, if it has one that is not ``None``.
        """
        train = cell.config.get("train")
        return [] if train is None else [train]

    @abstractmethod
    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        """Run one cell, writing arrays and metrics into ``run_dir``; return a JSON-able summary of the cell."""

    @abstractmethod
    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        """Turn the finished cells into figures (saved under ``out_dir``), tables and comparisons.

        ``ctx`` is the context the cells ran in: ``ctx.profile`` says which profile they belong to.
        """


_REGISTRY: dict[str, type[Recipe]] = {}
R = TypeVar("R", bound=type[Recipe])


def register_recipe(cls: R) -> R:
    """Class decorator adding a recipe to the registry under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not name:
        raise FreqlensError(f"recipe class {cls.__name__} needs a 'name'")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise FreqlensError(f"recipe {name!r} is registered twice ({_REGISTRY[name].__name__}, {cls.__name__})")
    _REGISTRY[name] = cls
    return cls


_NOT_RECIPES = {"base", "common"}


def load_all() -> None:
    """Import every recipe module of this package (idempotent): the HFC paper's first, then alphabetically."""
    found = pkgutil.iter_modules([str(Path(__file__).parent)])
    for info in sorted(found, key=lambda m: (not m.name.startswith("hfc"), m.name)):
        if info.name not in _NOT_RECIPES and not info.name.startswith("_"):
            importlib.import_module(f"freqlens.experiments.{info.name}")


def list_recipes(include_hidden: bool = False) -> list[str]:
    """Names of the recipes ``reproduce all`` runs, in registration order (with ``include_hidden``: all of them)."""
    load_all()
    return [name for name, cls in _REGISTRY.items() if cls.in_all or include_hidden]


def get_recipe(name: str) -> Recipe:
    """An instance of the recipe called ``name``."""
    names = list_recipes(include_hidden=True)
    if name not in _REGISTRY:
        raise FreqlensError(f"unknown experiment {name!r}; choose one of: {', '.join(names)}, or all")
    return _REGISTRY[name]()
