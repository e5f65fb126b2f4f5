"""Pipeline recipes: YAML -> a validated plan of typed stages, every error found before anything runs.

Three kinds of recipe, all expanding into the same list of :class:`Stage`:

- ``kind: pipeline`` (the default) — one task, one student: teacher fine-tuning (when the teacher
  has no head for the task), general distillation (with ``corpus``), augmentation, task
  distillation, a label-only baseline, INT8, ``glue eval`` of every model and a report.
  ``stages.<name>`` holds settings for that stage as a mapping of its command's config keys
  (e.g. ``stages: {task: {train: {lr: 3.0e-4}}}``), optionally on top of a stage recipe file
  (``recipe: recipes/task/tiny_sst2.yaml``).
- ``kind: study`` — a grid: every task × student size × seed, with label-only students from
  random init and from the general-distilled checkpoint, task-distilled students and their INT8
  copies, all scored and reported together (see ``recipes/glue/leaderboard.yaml``).
- ``kind: stages`` — an explicit list of ``{name, run, config}`` entries; a training entry's
  ``sweep:`` expands into one run per value and a ``distill pick`` of the best (:class:`StageEntry`).

Inside a stage's settings, a string ``@name`` stands for the output of stage ``name`` (and
``@name/file`` for a file inside it); that is how stages depend on each other. Each stage's settings are built into the config class of the
command that runs it (:mod:`pipeline.kinds`), so a misspelt key, a wrong type or an option the
command does not take fails here, with the stage named, together with every other problem.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, get_args

from distill.cut import is_cut_spec, parse_cut
from eval.core.config import apply_overrides, assign, from_dict, read_yaml, to_dict
from eval.core.errors import UserError
from eval.predictors import is_sequence_classifier
from eval.tasks import get_task
from pipeline.kinds import KINDS

REFERENCE = "@"


@dataclass(frozen=True)
class Stage:
    """One step of a run, ready to go: its kind, typed config, output and the stages it reads."""

    name: str
    kind: str
    config: Any
    after: tuple[str, ...] = ()
    always: bool = False  # cheap and final (the report): run every time, so its output is printed
    swept: Mapping[str, Any] = field(default_factory=dict)  # a sweep's run: the values it tries (key -> value)
    # the name of a sweep's pick stage: this stage takes the swept values of the run that pick chose, set
    # when the pick has run (pipeline.runner.settle); until then its config holds the sweep's first values
    inherit: str | None = None

    @property
    def output(self) -> Path:
        return Path(getattr(self.config, KINDS[self.kind].output_key))


@dataclass(frozen=True)
class Plan:
    output_dir: Path
    stages: tuple[Stage, ...]
    recipe: Mapping[str, Any]  # the recipe as loaded (overrides applied), saved beside the run

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


# --------------------------------------------------------------------------------- recipe schemas


@dataclass(frozen=True)
class EvalOptions:
    """How every model of a run is scored (``glue eval``)."""

    batch_size: int = 64
    max_seq_length: int = 128
    limit: int | None = None
    # also score every model once on the task's labelled test split (a task spec's test file with
    # labels), reported apart in report-test/: the figure nobody tuned on
    test: bool = False


@dataclass(frozen=True)
class TaskPipeline:
    """One task, one student: from a pre-trained (or fine-tuned) teacher to a reported INT8 student.

    Attributes:
        teacher: pre-trained or already fine-tuned teacher (alias, folder or Hub id); when it
            already has the task's classifier head, fine-tuning is skipped.
        student: a student preset (``tiny``, ``mini``, ...) or a student folder.
        corpus: unlabeled text for general distillation; without it the student starts from random.
        augment: TinyBERT data augmentation, and task distillation on the augmented set.
        baseline: also fine-tune the same student on labels only, for the report's comparison.
        int8: quantize the distilled student.
        stages: settings per stage (``finetune``, ``general``, ``augment``, ``task``,
            ``baseline``, ``int8``), as mappings of that command's config keys; a training stage
            (``finetune``, ``task``, ``baseline``) may add ``sweep: {train.lr: [...]}``, which trains
            it once per value and keeps the best (``distill pick``), chosen on the held-out slice.
        holdout: train every model on the train split less this many examples, held out (``glue
            holdout``) as the split that checkpoints and sweeps are chosen on; the task's dev split
            is then scored once, by ``glue eval`` only. Required by ``sweep``.
    """

    task: str
    teacher: str
    student: str
    output_dir: str
    kind: Literal["pipeline"] = "pipeline"
    data_dir: str | None = None
    corpus: str | None = None
    augment: bool = False
    baseline: bool = True
    int8: bool = True
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    eval: EvalOptions = EvalOptions()
    holdout: int | None = None


Variant = Literal["scratch", "pretrained", "distilled", "logits-only", "teacher-labels"]


@dataclass(frozen=True)
class StudyTask:
    """One task of a study: its data, its seeds and settings layered onto the study's."""

    data_dir: str | None = None
    seeds: tuple[int, ...] | None = None  # default: the study's seeds
    teacher: Mapping[str, Any] = field(default_factory=dict)  # `distill finetune` of the teacher
    augment: Mapping[str, Any] | None = field(default_factory=dict)  # null: no augmentation
    student: Mapping[str, Any] = field(default_factory=dict)  # every student stage of this task
    baseline: Mapping[str, Any] = field(default_factory=dict)  # label-only students
    distill: Mapping[str, Any] = field(default_factory=dict)  # `distill task`
    int8: Mapping[str, Any] = field(default_factory=dict)
    variants: tuple[Variant, ...] | None = None  # default: the study's
    # train on the train split less this many examples, held out as the split every model is tuned
    # and selected on (glue holdout); the task's dev split is then scored once, by `glue eval` only
    holdout: int | None = None


@dataclass(frozen=True)
class StudySize:
    """Settings for one student size, layered onto the study's.

    ``cut``: the size is cut from the pre-trained teacher (``distill cut``: its embeddings and this many
    of its layers, or these layers) instead of a preset general-distilled from random: stage
    ``cut-<size>`` replaces ``general-<size>``, and it has no ``scratch`` row.
    """

    general: Mapping[str, Any] = field(default_factory=dict)
    student: Mapping[str, Any] = field(default_factory=dict)
    cut: int | tuple[int, ...] | None = None
    variants: tuple[Variant, ...] | None = None  # only these of the task's variants for this size
    tasks: tuple[str, ...] | None = None  # only these of the study's tasks for this size
    seeds: tuple[int, ...] | None = None  # only these of each task's seeds for this size
    # settings of one variant's rows of this size, e.g. ``{scratch: {train: {lr: 1.0e-3}}}``; layered
    # over the variant's own
    variant_settings: Mapping[Variant, Mapping[str, Any]] = field(default_factory=dict)
    sweep: Mapping[str, tuple[Any, ...]] | None = None  # this size's grid (None: the study's; {}: none)


VARIANTS = ("scratch", "pretrained", "distilled")
# Ablations of ``distilled``, on its data (augmented, with any mined pairs) and for as many epochs as
# its phases add up to: ``logits-only`` drops the intermediate phase (prediction-layer KD alone);
# ``teacher-labels`` trains on the teacher's hard labels (label-only training on teacher-labelled data).
ABLATIONS = {"logits-only": "logits", "teacher-labels": "teacher_labels"}


@dataclass(frozen=True)
class Study:
    """Every task × student size × seed: label-only from random init (``scratch``), label-only from
    the general-distilled checkpoint (``pretrained``), task-distilled (``distilled``) and its INT8,
    and optionally the ablations of ``distilled`` in :data:`ABLATIONS` (``variants``; a task or a
    size may narrow them).

    A student stage's settings are layered ``student`` < ``sizes.<size>.student`` <
    ``tasks.<task>.student`` < ``baseline`` or ``distill`` < ``tasks.<task>.baseline`` or
    ``tasks.<task>.distill`` < ``sizes.<size>.variant_settings.<variant>`` < its seed.

    ``sweep`` (e.g. ``{train.lr: [1.0e-4, 3.0e-4, 1.0e-3]}``; a size may set its own) chooses every
    student row's settings on the task's held-out slice (``holdout``): for each size, task and variant,
    the first seed trains one run per value (``<stage>-lr1e-4``, ...) and ``distill pick`` keeps the best
    as ``<stage>``; the other seeds train with the values it chose. Each arm gets the same grid and the
    same choice rule, and the dev split is scored once, after the choice.

    Stage names: ``teacher-<task>``, ``general-<size>``, ``augment-<task>``,
    ``<size>-<task>-<variant>-s<seed>``, ``<size>-<task>-distilled-s<seed>-int8``, and
    ``eval-<stage>`` for each model (results in ``results/<stage>.json``), then ``report``. General
    and task distillation share one teacher-output store, ``cache/`` in the run folder.
    """

    output_dir: str
    teacher: str
    sizes: Mapping[str, StudySize]
    tasks: Mapping[str, StudyTask]
    kind: Literal["study"] = "study"
    seeds: tuple[int, ...] = (42,)
    variants: tuple[Variant, ...] = VARIANTS
    general: Mapping[str, Any] = field(default_factory=dict)
    student: Mapping[str, Any] = field(default_factory=dict)  # every student stage of every task
    baseline: Mapping[str, Any] = field(default_factory=dict)  # every label-only student
    distill: Mapping[str, Any] = field(default_factory=dict)  # every task-distilled student
    int8: Mapping[str, Any] = field(default_factory=dict)
    eval: EvalOptions = EvalOptions()
    # keep the teacher's outputs on disk (cache/), read by every size and seed; false: the teacher runs
    # on every batch instead (slower, no disk: relation losses store queries, keys and values per token)
    teacher_cache: bool = True
    sweep: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # every student row's grid (above)


@dataclass(frozen=True)
class StageEntry:
    """One stage of a ``kind: stages`` recipe.

    ``sweep`` (``finetune`` and ``task`` stages) maps config keys to the values to try, e.g.
    ``{train.lr: [1.0e-4, 3.0e-4, 1.0e-3]}``: one run per combination (stages ``NAME-lr1e-4``, ...),
    then stage ``NAME`` (``distill pick``) keeps the run with the best dev score, so ``@NAME`` is the
    winner. Sweep on a held-out slice of train (a ``holdout`` stage), never on the split you report.

    ``settings_from: NAME`` (any stage) takes the swept keys' values that the sweep of stage ``NAME``
    chose, e.g. to train once more on the whole train split at the chosen rate.
    """

    name: str
    run: Literal["holdout", "finetune", "general", "augment", "task", "cut", "pick", "int8", "eval", "floors",
                 "report"]
    config: Mapping[str, Any] = field(default_factory=dict)
    sweep: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    settings_from: str | None = None


@dataclass(frozen=True)
class Stages:
    """An explicit list of stages; ``@name`` in a stage's config is the output of stage ``name``."""

    output_dir: str
    stages: tuple[StageEntry, ...]
    kind: Literal["stages"] = "stages"


SCHEMAS = {"pipeline": TaskPipeline, "study": Study, "stages": Stages}


# ---------------------------------------------------------------------------------------- loading


def load_plan(recipe: str | Path, overrides: list[str] | None = None, output_dir: str | None = None) -> Plan:
    """Read, expand and validate a recipe: every problem of every stage in one ``UserError``.

    Args:
        overrides: ``key=value`` items applied to the recipe (``--set``), values read as YAML.
        output_dir: replaces the recipe's ``output_dir``.
    """
    data = apply_overrides(read_yaml(recipe), overrides)
    if output_dir is not None:
        data["output_dir"] = output_dir
    kind = data.get("kind", "pipeline")
    if kind not in SCHEMAS:
        raise UserError(f"recipe {recipe}: unknown kind {kind!r}; choose one of {', '.join(SCHEMAS)}")
    cfg = from_dict(SCHEMAS[kind], data, f"recipe {recipe}")
    specs = {"pipeline": _task_pipeline, "study": _study, "stages": _explicit}[kind](cfg)
    return Plan(Path(cfg.output_dir), _validate(specs, Path(cfg.output_dir)), to_dict(cfg))


@dataclass(frozen=True)
class _Spec:
    """A stage before validation: its settings as plain data, ``@name`` references unresolved."""

    name: str
    kind: str
    data: dict[str, Any]
    always: bool = False
    problems: tuple[str, ...] = ()  # found while expanding (an unreadable included recipe...)
    row: str | None = None  # a study's model: its report row (the name without task and seed)
    swept: Mapping[str, Any] = field(default_factory=dict)  # see Stage
    inherit: str | None = None  # see Stage


# A stage name names files and folders in the run folder (its output, recipe, marker and log): a
# closed character set, so that no name is a path ("../x", "/abs") or a hidden file.
STAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# What the runner itself writes in the run folder; no stage output may be or hold one of them.
RUN_FILES = ("pipeline.yaml", "commands.sh", "timings.json", ".stages", "recipes", "logs")
# Config fields naming a path a stage writes, besides its output (a shared store of teacher outputs).
WRITTEN_FIELDS = ("teacher_cache",)


def _validate(specs: list[_Spec], out: Path) -> tuple[Stage, ...]:
    errors: list[str] = []
    outputs: dict[str, str] = {}
    picks: set[str] = set()  # the pick stages of sweeps so far: what a stage may inherit settings from
    stages: list[Stage] = []
    names = [s.name for s in specs]
    specs_by_name = {s.name: s for s in specs}
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"stage {dup!r} is defined more than once")
    bad = [s.name for s in specs if not isinstance(s.name, str) or not STAGE_NAME.fullmatch(s.name)]
    if bad:  # nothing else is checked: every path of such a stage would be wrong
        raise UserError(f"stage names {bad} are not names: use letters, digits, '-', '_' and '.' (not first), "
                        f"at most 128 characters, e.g. tiny-sst2")
    for spec in specs:
        kind = KINDS[spec.kind]
        data = merge(spec.data)
        data.setdefault(kind.output_key, str(_default_output(out, spec)))
        after: list[str] = []
        data = _resolve(data, outputs, after, spec.name, errors)
        if spec.inherit is not None:
            if spec.inherit not in picks:
                errors.append(f"stage {spec.name!r}: takes its settings from {spec.inherit!r}, which is no earlier "
                              f"sweep; name the stage of a sweep above it")
            after.append(spec.inherit)
        errors += [f"stage {spec.name!r}: {p}" for p in spec.problems]
        try:
            config = kind.build(data, f"stage {spec.name!r} ({kind.program} {kind.subcommand})")
        except UserError as err:
            errors.append(str(err))
            config = None
        outputs[spec.name] = str(data[kind.output_key])
        if spec.kind == "pick" and any(specs_by_name[c].swept for c in after if c in specs_by_name):
            picks.add(spec.name)
        if config is not None:
            stages.append(Stage(spec.name, spec.kind, config, tuple(dict.fromkeys(after)), spec.always,
                                swept=spec.swept, inherit=spec.inherit))
    errors += _path_problems(stages, out)
    if errors:
        raise UserError(f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in the recipe, nothing was run: "
                        + " | ".join(errors))
    return tuple(stages)


def _path_problems(stages: list[Stage], out: Path) -> list[str]:
    """Every path a stage writes lies inside the run folder, apart from what the runner writes there,
    and no stage's output lies inside another's (an eval result written over a model's weights)."""
    root = out.expanduser().resolve()
    reserved = {name: root / name for name in RUN_FILES}
    problems = []
    written: dict[str, Path] = {}
    for stage in stages:
        fields = {KINDS[stage.kind].output_key: stage.output,
                  **{f: getattr(stage.config, f) for f in WRITTEN_FIELDS if getattr(stage.config, f, None)}}
        for field_name, value in fields.items():
            path = Path(value).expanduser().resolve()
            where = f"stage {stage.name!r}: {field_name} {value}"
            if not path.is_relative_to(root) or path == root:
                problems.append(f"{where} is not inside the run folder {out}; a stage writes only inside "
                                f"output_dir (leave {field_name} out to use the default)")
            elif any(overlaps(path, spot) for spot in reserved.values()):
                problems.append(f"{where} is where the pipeline keeps its own files ({', '.join(RUN_FILES)}); "
                                f"rename the stage")
            elif field_name != "teacher_cache":  # a store is shared by design; outputs are not
                written[stage.name] = path
    for name, path in written.items():
        for other, other_path in written.items():
            if other != name and path.is_relative_to(other_path):
                problems.append(f"stage {name!r} writes {path}, inside the output of stage {other!r}; give it "
                                f"its own output path")
    return problems


def overlaps(a: Path, b: Path) -> bool:
    """Whether one of two resolved paths is, or lies inside, the other."""
    return a.is_relative_to(b) or b.is_relative_to(a)


def _default_output(out: Path, spec: _Spec) -> Path:
    if spec.kind == "eval":
        return out / "results" / f"{spec.name.removeprefix('eval-')}.json"
    return out / spec.name


def _resolve(value: Any, outputs: dict[str, str], after: list[str], stage: str, errors: list[str]) -> Any:
    """Replace ``@name`` strings by that (earlier) stage's output; note the dependency."""
    if isinstance(value, Mapping):
        return {k: _resolve(v, outputs, after, stage, errors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, outputs, after, stage, errors) for v in value]
    if isinstance(value, str) and value.startswith(REFERENCE):
        name, slash, inside = value[len(REFERENCE):].partition("/")  # @stage or @stage/file-in-its-output
        if name not in outputs or ".." in Path(inside).parts:
            errors.append(f"stage {stage!r}: {value!r} names no earlier stage (or leaves its output)")
            return value
        after.append(name)
        return str(Path(outputs[name]) / inside) if slash else outputs[name]
    return value


def merge(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge mappings into plain dicts, later layers winning; lists and scalars are replaced whole."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merge(out[key], value)
            else:
                out[key] = to_dict(value)
    return out


# ------------------------------------------------------------------------------------- templates


def _stage_settings(entry: Mapping[str, Any] | None, wired: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """A stage's settings: an optional included ``recipe`` < the entry's keys < the pipeline's wiring.

    Keys the pipeline wires itself (teacher, student, output...) may not be set in the entry.
    """
    entry = dict(entry or {})
    problems = []
    base: dict[str, Any] = {}
    include = entry.pop("recipe", None)
    if include is not None:
        try:
            base = read_yaml(include)
        except UserError as err:
            problems.append(str(err))
        base.pop("output_dir", None)  # a stage recipe's own folder is for running it alone; the run decides
    if "set" in entry:
        problems.append("'set' lists of key=value strings are not taken in pipeline recipes; write the "
                        "settings as a mapping, e.g. {train: {lr: 3.0e-4}}")
        entry.pop("set")
    problems += [f"{key!r} is set by the pipeline itself ({wired[key]!r}); change it at the top of the recipe"
                 for key in entry if key in wired]
    return merge(base, entry, wired), problems


def _spec(name: str, kind: str, entry: Mapping[str, Any] | None, wired: Mapping[str, Any]) -> _Spec:
    data, problems = _stage_settings(entry, wired)
    return _Spec(name, kind, data, problems=tuple(problems))


def _eval_specs(models: Mapping[str, str], task: str, options: EvalOptions, data_dir: str | None,
                row: Callable[[str], str] = lambda name: name, split: str = "dev") -> list[_Spec]:
    """A ``glue eval`` stage per model (stage name -> model folder); ``row`` names its report row."""
    settings = {"split": split, "batch_size": options.batch_size, "max_seq_length": options.max_seq_length,
                "data_dir": data_dir, "limit": options.limit}
    prefix = "eval-" if split == "dev" else f"eval-{split}-"
    return [_Spec(f"{prefix}{name}", "eval", {"model": model, "task": task, "name": row(name), "settings": settings})
            for name, model in models.items()]


def _floors_specs(tasks: Mapping[str, str | None], out: Path, split: str = "dev") -> list[_Spec]:
    """A ``glue floors`` stage per task (task -> data_dir): the majority-class and word-overlap rows."""
    suffix = "" if split == "dev" else f"-{split}"
    names = {task: (f"floors-{task}" if len(tasks) > 1 else "floors") + suffix for task in tasks}
    return [_Spec(names[task], "floors", {"task": task, "data_dir": data_dir, "split": split,
                                          "output_dir": str(out / "results" / names[task])})
            for task, data_dir in tasks.items()]


def _report_spec(evals: list[_Spec], compare: list[str], title: str, floors: list[_Spec] = (),
                 name: str = "report") -> _Spec:
    rows = {s.data["name"] for s in evals}
    pairs = [pair for pair in compare if set(pair.split(":")) <= rows]
    return _Spec(name, "report", {"results": [REFERENCE + s.name for s in [*floors, *evals]], "compare": pairs,
                                  "title": title}, always=True)


def _task_pipeline(cfg: TaskPipeline) -> list[_Spec]:
    unknown = sorted(set(cfg.stages) - {"finetune", "general", "augment", "task", "baseline", "int8"})
    if unknown:
        raise UserError(f"unknown stages {unknown} in stages:; choose from finetune, general, augment, task, "
                        f"baseline, int8")
    task = get_task(cfg.task)
    out = Path(cfg.output_dir)
    data = {"data_dir": cfg.data_dir} if cfg.data_dir else {}
    specs: list[_Spec] = []
    trained_on = cfg.task  # the task the models train and are selected on
    if cfg.holdout:
        specs.append(_Spec("holdout", "holdout", {"task": cfg.task, "size": cfg.holdout, **data}))
        trained_on, data = "@holdout/task.yaml", {}
    stage = functools.partial(_pipeline_stage, cfg)
    teacher = cfg.teacher
    if not _needs_finetuning(cfg.teacher, task.num_labels) and "sweep" in (cfg.stages.get("finetune") or {}):
        raise UserError(f"stages.finetune.sweep: teacher {cfg.teacher} already has the task's classifier, so it is "
                        f"not fine-tuned here; drop the sweep (or start from its pre-trained encoder)")
    if _needs_finetuning(cfg.teacher, task.num_labels):
        specs += stage("finetune", "finetune", {"model": cfg.teacher, "task": trained_on, **data,
                                                "output_dir": str(out / "teacher")})
        teacher = "@finetune"
    student = cfg.student
    baseline_model = cfg.student
    if is_cut_spec(cfg.student):  # the teacher's own layers: nothing to general-distil
        if cfg.corpus:
            raise UserError(f"student {cfg.student} is cut from the teacher and needs no general distillation; "
                            f"drop corpus")
        specs.append(_spec("cut", "cut", None, {"model": cfg.teacher, "layers": parse_cut(cfg.student),
                                                "output_dir": str(out / "cut")}))
        baseline_model = "@cut"  # label-only: the same cut of the pre-trained teacher, fine-tuned on labels
    if cfg.corpus:
        specs += stage("general", "general", {"teacher": cfg.teacher, "student": cfg.student, "corpus": cfg.corpus})
        student = "@general"
    augmented = {}
    if cfg.augment:
        specs += stage("augment", "augment", {"task": trained_on, "model": cfg.teacher, **data,
                                              "output_dir": str(out / "augmented")})
        augmented = {"augmented": "@augment"}
    specs += stage("task", "task", {"task": trained_on, "teacher": teacher, "student": student, **data, **augmented,
                                    "output_dir": str(out / "student")})
    if cfg.baseline:
        specs += stage("baseline", "finetune", {"model": baseline_model, "tokenizer": teacher, "task": trained_on,
                                                **data})
    if cfg.int8:
        specs += stage("int8", "int8", {"model": "@task", "calib": trained_on, **data,
                                        "output_dir": str(out / "student-int8")})
    scored = {"teacher": teacher, "student": "@task", **({"baseline": "@baseline"} if cfg.baseline else {}),
              **({"student-int8": "@int8"} if cfg.int8 else {})}
    compare = ["student:baseline", "student-int8:student"]
    title = f"{task.display_name}: {cfg.student} student of {cfg.teacher}"
    evals = _eval_specs(scored, cfg.task, cfg.eval, cfg.data_dir)
    floors = _floors_specs({cfg.task: cfg.data_dir}, out)
    specs += [*evals, *floors, _report_spec(evals, compare, title, floors)]
    if cfg.eval.test:  # the same models, once, on the test split: its own report
        tests = _eval_specs(scored, cfg.task, cfg.eval, cfg.data_dir, split="test")
        test_floors = _floors_specs({cfg.task: cfg.data_dir}, out, split="test")
        specs += [*tests, *test_floors, _report_spec(tests, compare, f"{title} (test split)", test_floors,
                                                     name="report-test")]
    return specs


def _pipeline_stage(cfg: TaskPipeline, name: str, kind: str, wired: Mapping[str, Any]) -> list[_Spec]:
    """Stage ``name`` of a task pipeline with its ``stages.<name>`` settings; with ``sweep:`` there, one
    run per value and the pick of the best under ``name`` (a sweep chooses on the held-out slice only)."""
    entry = dict(cfg.stages.get(name) or {})
    sweep = entry.pop("sweep", None)
    spec = _spec(name, kind, entry, wired)
    if sweep is None:
        return [spec]
    where = f"stages.{name}.sweep"
    if kind not in SWEEPABLE:
        raise UserError(f"{where}: only the training stages (finetune, task, baseline) can sweep, not {name}")
    if not isinstance(sweep, Mapping):
        raise UserError(f"{where} is not a mapping of config keys to values; write e.g. "
                        f"sweep: {{train.lr: [1.0e-4, 3.0e-4, 1.0e-3]}}")
    if not cfg.holdout:
        raise UserError(f"{where} would choose on the dev split that the report shows; add holdout: N (e.g. 1000) "
                        f"to choose on N held-out training examples instead")
    _check_sweep(sweep, where, wired=tuple(wired))
    if twice := [key for key in sweep if _lookup(spec.data, key) is not None]:
        raise UserError(f"{where}: stages.{name} also sets {', '.join(twice)} (or the recipe file it includes "
                        f"does); leave it out, the sweep tries each value")
    return _grid(spec, sweep)


def _study(cfg: Study) -> list[_Spec]:
    from distill.students import STUDENTS

    unknown_sizes = sorted(size for size, plan in cfg.sizes.items() if size not in STUDENTS and plan.cut is None)
    if unknown_sizes:
        raise UserError(f"unknown student sizes {unknown_sizes}; choose from {', '.join(STUDENTS)}, or give a "
                        f"size `cut: L` to cut it from the teacher")
    known = get_args(Variant)
    misspelt = sorted(f"{size}: {v}" for size, plan in cfg.sizes.items() for v in plan.variant_settings if v not in known)
    if misspelt:
        raise UserError(f"variant_settings names unknown variants ({', '.join(misspelt)}); choose from {', '.join(known)}")
    specs: list[_Spec] = []
    every = {v for task in cfg.tasks.values() for v in (task.variants or cfg.variants)}
    if every - {"scratch"}:
        for size, plan in cfg.sizes.items():
            if plan.cut is not None:
                specs.append(_spec(f"cut-{size}", "cut", None, {"model": cfg.teacher, "layers": plan.cut}))
            else:
                specs.append(_spec(f"general-{size}", "general", merge(_store(cfg), cfg.general, plan.general),
                                   {"teacher": cfg.teacher, "student": size}))
    evals: list[_Spec] = []
    for name, task in cfg.tasks.items():
        for spec in _study_task(cfg, name, task):  # each model's eval right after it: rows score as they finish
            specs.append(spec)
            if spec.row is not None:  # a model of the report (not a sweep's run: its pick is)
                evals += _eval_specs({spec.name: REFERENCE + spec.name}, name, cfg.eval, task.data_dir,
                                     row=lambda _stage, row=spec.row: row)
                specs.append(evals[-1])
    compare = [f"{size}-{a}:{size}-{b}" for size in cfg.sizes for a, b in
               (("distilled", "scratch"), ("distilled", "pretrained"), ("distilled-int8", "distilled"),
                *(("distilled", ablation) for ablation in ABLATIONS))]
    sizes = list(cfg.sizes)
    compare += [f"{big}-distilled:{small}-distilled" for small, big in zip(sizes, sizes[1:])]
    floors = _floors_specs({name: task.data_dir for name, task in cfg.tasks.items()}, Path(cfg.output_dir))
    return [*specs, *floors, _report_spec(evals, compare, f"Students of {cfg.teacher} on GLUE", floors)]


def _study_task(cfg: Study, name: str, task: StudyTask) -> list[_Spec]:
    """The teacher, augmentation and every student stage of one task of a study."""
    data = {"data_dir": task.data_dir} if task.data_dir else {}
    specs = []
    trained_on = name  # the task the models train and are selected on
    if task.holdout:
        specs.append(_Spec(f"holdout-{name}", "holdout", {"task": name, "size": task.holdout, **data}))
        trained_on, data = f"@holdout-{name}/task.yaml", {}
    specs.append(replace(_spec(f"teacher-{name}", "finetune", task.teacher,
                               {"model": cfg.teacher, "task": trained_on, **data}), row="teacher"))
    variants = task.variants or cfg.variants
    augmented = {}
    if task.augment is not None and set(variants) - {"scratch", "pretrained"}:
        specs.append(_spec(f"augment-{name}", "augment", task.augment,
                           {"task": trained_on, "model": cfg.teacher, **data}))
        augmented = {"augmented": f"@augment-{name}"}
    wiring = {
        "scratch": ("finetune", {"model": "{size}", "tokenizer": cfg.teacher, "task": trained_on, **data}),
        "pretrained": ("finetune", {"model": "@{start}-{size}", "task": trained_on, **data}),
        "distilled": ("task", {"task": trained_on, "teacher": f"@teacher-{name}", "student": "@{start}-{size}",
                               **data, **augmented}),
    }
    distill = merge(cfg.distill, task.distill)
    for variant, loss in ABLATIONS.items():  # the distilled row's data and epochs, one prediction-layer loss
        wiring[variant] = ("task", {**wiring["distilled"][1], "phases": [_ablation_phase(distill, cfg, task, loss)]})
    for size, plan in cfg.sizes.items():
        if plan.tasks is not None and name not in plan.tasks:
            continue
        student = merge(cfg.student, plan.student, task.student)
        start = "general" if plan.cut is None else "cut"
        sweep = cfg.sweep if plan.sweep is None else plan.sweep
        if sweep:
            _check_study_sweep(sweep, size, name, task, wired={key for _, keys in wiring.values() for key in keys})
        seeds = [s for s in task.seeds or cfg.seeds if plan.seeds is None or s in plan.seeds]
        for seed in seeds:
            for variant in variants:
                if (variant == "scratch" and plan.cut is not None) or (plan.variants and variant not in plan.variants):
                    continue  # a cut size has no random-init row of its own
                kind, wired = wiring[variant]
                stage = f"{size}-{name}-{variant}-s{seed}"
                own = ((cfg.baseline, task.baseline) if kind == "finetune" else
                       (_store(cfg), _without(distill, "phases") if variant in ABLATIONS else distill))
                settings = merge(student, *own, plan.variant_settings.get(variant), {"train": {"seed": seed}})
                if twice := [key for key in sweep if _lookup(settings, key) is not None]:
                    raise UserError(f"the study sets {', '.join(twice)} for {stage}, which its sweep chooses; leave "
                                    f"{'them' if len(twice) > 1 else 'it'} out of the student, baseline and distill "
                                    f"settings (sweep: tries each value)")
                spec = replace(_spec(stage, kind, settings, {k: v.format(size=size, start=start) if isinstance(v, str)
                                                             else v for k, v in wired.items()}), row=f"{size}-{variant}")
                if not sweep:
                    specs.append(spec)
                elif seed == seeds[0]:  # the grid, then its pick under the row's own name
                    specs += _grid(spec, sweep)
                else:
                    specs.append(_inheriting(spec, sweep, f"{size}-{name}-{variant}-s{seeds[0]}"))
                if variant == "distilled":
                    specs.append(replace(_spec(f"{stage}-int8", "int8", merge(cfg.int8, task.int8),
                                               {"model": f"@{stage}", "calib": trained_on, **data}),
                                         row=f"{size}-{variant}-int8"))
    return specs


def _check_study_sweep(sweep: Mapping[str, Any], size: str, name: str, task: StudyTask, wired: set[str]) -> None:
    """A study's sweep chooses training settings, on a held-out slice of each task's train split."""
    where = f"sweep of size {size}"
    _check_sweep(sweep, where, wired=tuple(wired))
    if "train.seed" in sweep:
        raise UserError(f"{where}: train.seed is the study's own (seeds:); sweep training settings such as train.lr")
    if not task.holdout:
        raise UserError(f"{where} would choose on the dev split that the report shows for {name}; give each task "
                        f"holdout: N (e.g. 1000) to choose on N held-out training examples instead")


def _ablation_phase(distill: Mapping[str, Any], cfg: Study, task: StudyTask, loss: str) -> dict[str, Any]:
    """One prediction phase with ``loss`` alone, as many epochs as the distilled row's phases add up to."""
    from distill.config import TrainSettings, default_phases

    epochs = merge(cfg.student, task.student, distill).get("train", {}).get("epochs", TrainSettings.epochs)
    phases = distill.get("phases") or [to_dict(p) for p in default_phases()]
    return {"name": "prediction", "losses": {loss: 1.0}, "epochs": sum(p.get("epochs") or epochs for p in phases)}


def _lookup(settings: Mapping[str, Any], dotted: str) -> Any:
    """``settings["train"]["lr"]`` for ``train.lr``; ``None`` where any part is missing."""
    for part in dotted.split("."):
        if not isinstance(settings, Mapping):
            return None
        settings = settings.get(part)
    return settings


def _without(settings: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k != key}


def _store(cfg: Study) -> dict[str, str]:
    """The study's teacher-output store, in its run folder: one teacher pass per corpus and task,
    read by every size and seed (none when ``teacher_cache`` is off)."""
    return {"teacher_cache": str(Path(cfg.output_dir) / "cache")} if cfg.teacher_cache else {}


def _explicit(cfg: Stages) -> list[_Spec]:
    specs: list[_Spec] = []
    sweeps: dict[str, Mapping[str, Any]] = {}
    for entry in cfg.stages:
        spec = _Spec(entry.name, entry.run, dict(entry.config), always=entry.run == "report")
        if entry.settings_from is not None:
            if entry.sweep:
                raise UserError(f"stage {entry.name!r} both sweeps and takes settings_from {entry.settings_from!r}; "
                                f"keep one of the two")
            if entry.settings_from not in sweeps:
                raise UserError(f"stage {entry.name!r}: settings_from {entry.settings_from!r} names no sweep above "
                                f"it; name a stage with sweep: that comes earlier")
            if entry.run not in SWEEPABLE:
                raise UserError(f"stage {entry.name!r}: settings_from gives training settings "
                                f"({', '.join(sweeps[entry.settings_from])}) to {' and '.join(SWEEPABLE)} stages, "
                                f"not to {entry.run}")
            if twice := [key for key in sweeps[entry.settings_from] if _lookup(entry.config, key) is not None]:
                raise UserError(f"stage {entry.name!r} sets {', '.join(twice)}, which it takes from the sweep of "
                                f"{entry.settings_from!r} (settings_from); leave it out of its config")
            spec = _inheriting(spec, sweeps[entry.settings_from], entry.settings_from)
        if entry.sweep:
            specs += _sweep(entry)
            sweeps[entry.name] = entry.sweep
        else:
            specs.append(spec)
    return specs


SWEEPABLE = ("finetune", "task")  # the training commands that keep a dev-scored model (what pick compares)


def _sweep(entry: StageEntry) -> list[_Spec]:
    """A stage with ``sweep:``: one run per combination of the values, then a ``pick`` stage of the
    entry's own name over them."""
    if entry.run not in SWEEPABLE:
        raise UserError(f"stage {entry.name!r}: sweep: only {' and '.join(SWEEPABLE)} stages can sweep (they keep "
                        f"a dev-scored model to pick from), not {entry.run}")
    _check_sweep(entry.sweep, f"stage {entry.name!r}: sweep")
    return _grid(_Spec(entry.name, entry.run, dict(entry.config)), entry.sweep)


def _check_sweep(sweep: Mapping[str, Any], where: str, wired: tuple[str, ...] = ()) -> None:
    """Refuse a sweep that cannot choose: keys that are not config keys (or that the recipe wires
    itself: ``wired``), values that are not lists, repeated values, a single combination."""
    problems = [f"{key!r} is not a config key such as train.lr" for key in sweep if not isinstance(key, str)]
    problems += [f"{key} is set by the recipe itself (which data, models and folders a stage uses); sweep "
                 f"training settings such as train.lr" for key in sweep if isinstance(key, str)
                 and key.split(".")[0] in wired]
    problems += [f"{key} is not a list of values; write {key}: [first, second, ...]"
                 for key, values in sweep.items() if isinstance(key, str) and not isinstance(values, (list, tuple))]
    if problems:
        raise UserError(f"{where}: {'; '.join(problems)}")
    problems += [f"{key} lists no values; give two or more, e.g. train.lr: [1.0e-4, 3.0e-4, 1.0e-3]"
                 for key, values in sweep.items() if not values]
    problems += [f"{key} lists a value twice ({', '.join(map(str, twice))}); list each once"
                 for key, values in sweep.items() if (twice := _repeated(values))]
    if problems:
        raise UserError(f"{where}: {'; '.join(problems)}")
    if math.prod(len(values) for values in sweep.values()) < 2:
        raise UserError(f"{where} makes one run; give two or more values to choose from (or leave sweep out)")


def _grid(spec: _Spec, sweep: Mapping[str, Any]) -> list[_Spec]:
    """``spec`` once per combination of the sweep's values (stages ``NAME-lr1e-4``, ...), then stage
    ``NAME`` (``distill pick``), which keeps the best of them and takes ``spec``'s output folder and
    report row; each run writes its own folder, named as its stage."""
    output = {key: spec.data[key] for key in [KINDS[spec.kind].output_key] if key in spec.data}
    runs = []
    for combination in itertools.product(*(enumerate(values) for values in sweep.values())):
        data = merge(_without(spec.data, KINDS[spec.kind].output_key))  # a copy: assign() writes into it
        parts = [spec.name]
        for key, (index, value) in zip(sweep, combination):
            assign(data, key.split("."), value)
            parts.append(key.rsplit(".", 1)[-1] + _short(value, index))
        runs.append(_Spec("-".join(parts), spec.kind, data, swept=dict(zip(sweep, (v for _, v in combination)))))
    return [*runs, _Spec(spec.name, "pick", {"candidates": [REFERENCE + r.name for r in runs], **output},
                         problems=spec.problems, row=spec.row)]


def _inheriting(spec: _Spec, sweep: Mapping[str, Any], pick: str) -> _Spec:
    """``spec`` with the swept values that stage ``pick`` chooses (the first values until it has run)."""
    data = merge(spec.data)
    for key, values in sweep.items():
        assign(data, key.split("."), values[0])
    return replace(spec, data=data, inherit=pick)


def _repeated(values: Any) -> list[Any]:
    """Values of one sweep key that equal an earlier one (1, 1.0 and 1e0 are one value)."""
    seen: list[Any] = []
    twice = []
    for value in values:
        (twice if value in seen else seen).append(value)
    return twice


NAME_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._]{0,31}")


def _short(value: Any, index: int) -> str:
    """A swept value as it reads in a stage name: 1e-4 for 0.0001, 0.5, 32, true, cosine; a value that
    cannot be part of a name (a path, a mapping, ``@stage``) by its place in the list: 1, 2, ..."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isfinite(value):
        mantissa, _, exponent = f"{value:.0e}".partition("e")
        short = f"{mantissa}e{int(exponent)}"
        return short if float(short) == value and len(short) < len(repr(value)) else repr(value)
    text = str(value)
    return text if isinstance(value, (int, float, str)) and NAME_PART.fullmatch(text) else str(index + 1)


def _needs_finetuning(teacher: str, num_labels: int) -> bool:
    """True unless the teacher folder already holds a classifier for the task's label count."""
    path = Path(teacher).expanduser() / "config.json"
    if not path.is_file():
        return True  # an alias or Hub id: a pre-trained encoder to fine-tune
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON; pass a model folder written by save_pretrained") from None
    has_head = is_sequence_classifier(config.get("architectures"))
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
    return not (has_head and labels == num_labels)
