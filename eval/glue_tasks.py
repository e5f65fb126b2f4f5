"""The GLUE task registry: one frozen entry per task, read by every other module.

Nothing outside this file branches on task names. Each entry says where a task's data lives in
both real-world layouts (the classic ``glue_data/`` TSV folders and the Hub's ``nyu-mll/glue``
parquet files), which columns hold the text, how labels are named in each layout, which metrics
GLUE reports for it and how it counts towards the GLUE Score.

Label order is the Hub's ``ClassLabel`` order (``label_names``); the TSV files and the GLUE
server spell the same classes as ``tsv_labels``, index for index. MNLI is the classic trap: the
Hub's order is entailment, neutral, contradiction, whatever order a model's config may use.

A user's own task is a YAML task spec (:mod:`eval.task_spec`); :func:`eval.tasks.get_task` resolves
either kind of name. Each entry loads its own splits (``load``, read by :mod:`eval.glue_files`); this
module imports nothing of the harness above that, so the task spec can build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Mapping

from eval.core.errors import UserError
from eval.examples import GlueData, Task
from eval.glue_files import Split, TsvFormat, load_glue

__all__ = ["IS_REGRESSION", "NUM_LABELS", "TASKS", "GlueTask", "Split", "Task", "TsvFormat", "glue_task",
           "is_glue_name"]  # Task (the protocol every task meets) lives in eval.examples; Split and TsvFormat
                            # (where a split's files are) in eval.glue_files


def _splits(dev_tsv: str = "dev.tsv", dev_hub: str = "validation", test_tsv: str = "test.tsv",
            test_hub: str = "test") -> Mapping[str, Split]:
    return MappingProxyType({
        "train": Split("train.tsv", "train"),
        "dev": Split(dev_tsv, dev_hub),
        "test": Split(test_tsv, test_hub, labeled=False),
    })


# Both task types (GLUE entries and task specs) derive these two from ``label_names``.
IS_REGRESSION = property(lambda task: not task.label_names, doc="No label names: the labels are scores.")
NUM_LABELS = property(lambda task: len(task.label_names) or 1, doc="Model outputs: one per class, or 1 score.")


@dataclass(frozen=True)
class GlueTask:
    """Everything the toolkit needs to know about one GLUE task.

    Attributes:
        name: registry key and CLI name (``sst2``, ``mnli-mm``).
        display_name: the GLUE leaderboard's column name (``SST-2``, ``MNLI-mm``).
        hub_config: configuration name in the Hub dataset ``nyu-mll/glue``.
        text_columns: the Hub's text columns, in model input order (one or two).
        label_names: class names in the Hub's ``ClassLabel`` order; empty for regression.
        tsv_labels: for each class id, the label string in the GLUE TSVs and submission files.
        metrics: metric names as Hugging Face's GLUE metric reports them.
        main_metric: the metric used to pick checkpoints and guard quantization.
        tsv_dir: the task's folder in the classic ``glue_data/`` layout.
        labeled_tsv / test_tsv: column layout of the train/dev files and of the test file.
        splits: ``train``, ``dev`` and ``test``.
        submission_file: file name the GLUE server expects for this task's test predictions.
        score_group: tasks sharing a group count once in the GLUE Score (MNLI-m and -mm);
            ``None`` for tasks outside the Score (AX).
        train_examples: rows of the full GLUE train split (``None``: no train split), so a model
            card can say when a model saw a subset of it.
    """

    name: str
    display_name: str
    hub_config: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    tsv_labels: tuple[str, ...]
    metrics: tuple[str, ...]
    main_metric: str
    tsv_dir: str
    labeled_tsv: TsvFormat
    test_tsv: TsvFormat
    submission_file: str
    score_group: str | None
    splits: Mapping[str, Split] = field(default_factory=_splits)
    train_examples: int | None = None

    is_glue: ClassVar[bool] = True
    spec: ClassVar[str | None] = None  # a registry entry, not read from a task spec file
    is_regression = IS_REGRESSION
    num_labels = NUM_LABELS

    def split(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            raise UserError(
                f"task {self.name} has no split {name!r}; choose one of {', '.join(self.splits)}"
            ) from None

    def tsv_format(self, split: str) -> TsvFormat:
        return self.labeled_tsv if self.split(split).labeled else self.test_tsv

    def load(self, split: str, data_dir: str | Path | None = None) -> GlueData:
        """One split from a local GLUE copy in either layout (``data_dir``), or the Hub when ``None``."""
        self.split(split)  # validates the split name
        return load_glue(self, split, data_dir, TASKS.values())


_BINARY = ("0", "1")
_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")
_PAIR = ("sentence1", "sentence2")

_TASK_LIST = (
    GlueTask(
        name="cola", display_name="CoLA", hub_config="cola", text_columns=("sentence",),
        label_names=("unacceptable", "acceptable"), tsv_labels=_BINARY,
        metrics=("matthews_correlation",), main_metric="matthews_correlation", tsv_dir="CoLA",
        # train/dev have no header: source, label, original label, sentence.
        labeled_tsv=TsvFormat(texts=(3,), label=1, header=False),
        test_tsv=TsvFormat(texts=("sentence",), index="index"),
        submission_file="CoLA.tsv", score_group="cola", train_examples=8551,
    ),
    GlueTask(
        name="sst2", display_name="SST-2", hub_config="sst2", text_columns=("sentence",),
        label_names=("negative", "positive"), tsv_labels=_BINARY,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="SST-2",
        labeled_tsv=TsvFormat(texts=("sentence",), label="label"),
        test_tsv=TsvFormat(texts=("sentence",), index="index"),
        submission_file="SST-2.tsv", score_group="sst2", train_examples=67349,
    ),
    GlueTask(
        name="mrpc", display_name="MRPC", hub_config="mrpc", text_columns=_PAIR,
        label_names=("not_equivalent", "equivalent"), tsv_labels=_BINARY,
        metrics=("f1", "accuracy"), main_metric="f1", tsv_dir="MRPC",
        labeled_tsv=TsvFormat(texts=("#1 String", "#2 String"), label="Quality"),
        test_tsv=TsvFormat(texts=("#1 String", "#2 String"), index="index"),
        submission_file="MRPC.tsv", score_group="mrpc", train_examples=3668,
    ),
    GlueTask(
        name="stsb", display_name="STS-B", hub_config="stsb", text_columns=_PAIR,
        label_names=(), tsv_labels=(),
        metrics=("pearson", "spearmanr"), main_metric="pearson", tsv_dir="STS-B",
        labeled_tsv=TsvFormat(texts=_PAIR, label="score", index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="STS-B.tsv", score_group="stsb", train_examples=5749,
    ),
    GlueTask(
        name="qqp", display_name="QQP", hub_config="qqp", text_columns=("question1", "question2"),
        label_names=("not_duplicate", "duplicate"), tsv_labels=_BINARY,
        metrics=("f1", "accuracy"), main_metric="f1", tsv_dir="QQP",
        labeled_tsv=TsvFormat(texts=("question1", "question2"), label="is_duplicate", index="id"),
        test_tsv=TsvFormat(texts=("question1", "question2"), index="id"),
        submission_file="QQP.tsv", score_group="qqp", train_examples=363846,
    ),
    GlueTask(
        name="mnli", display_name="MNLI-m", hub_config="mnli", text_columns=("premise", "hypothesis"),
        label_names=_NLI3, tsv_labels=_NLI3,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="MNLI",
        labeled_tsv=TsvFormat(texts=_PAIR, label="gold_label", index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="MNLI-m.tsv", score_group="mnli", train_examples=392702,
        splits=_splits("dev_matched.tsv", "validation_matched", "test_matched.tsv", "test_matched"),
    ),
    GlueTask(
        name="mnli-mm", display_name="MNLI-mm", hub_config="mnli",
        text_columns=("premise", "hypothesis"),
        label_names=_NLI3, tsv_labels=_NLI3,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="MNLI",
        labeled_tsv=TsvFormat(texts=_PAIR, label="gold_label", index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="MNLI-mm.tsv", score_group="mnli", train_examples=392702,
        splits=_splits("dev_mismatched.tsv", "validation_mismatched", "test_mismatched.tsv",
                       "test_mismatched"),
    ),
    GlueTask(
        name="qnli", display_name="QNLI", hub_config="qnli", text_columns=("question", "sentence"),
        label_names=_NLI2, tsv_labels=_NLI2,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="QNLI",
        labeled_tsv=TsvFormat(texts=("question", "sentence"), label="label", index="index"),
        test_tsv=TsvFormat(texts=("question", "sentence"), index="index"),
        submission_file="QNLI.tsv", score_group="qnli", train_examples=104743,
    ),
    GlueTask(
        name="rte", display_name="RTE", hub_config="rte", text_columns=_PAIR,
        label_names=_NLI2, tsv_labels=_NLI2,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="RTE",
        labeled_tsv=TsvFormat(texts=_PAIR, label="label", index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="RTE.tsv", score_group="rte", train_examples=2490,
    ),
    GlueTask(
        name="wnli", display_name="WNLI", hub_config="wnli", text_columns=_PAIR,
        # The Hub lists not_entailment first; the TSVs say 1 for entailment. Same classes.
        label_names=("not_entailment", "entailment"), tsv_labels=_BINARY,
        metrics=("accuracy",), main_metric="accuracy", tsv_dir="WNLI",
        labeled_tsv=TsvFormat(texts=_PAIR, label="label", index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="WNLI.tsv", score_group="wnli", train_examples=635,
    ),
    GlueTask(
        # The diagnostic set: MNLI's classes, test split only, scored by the GLUE server.
        name="ax", display_name="AX", hub_config="ax", text_columns=("premise", "hypothesis"),
        label_names=_NLI3, tsv_labels=_NLI3,
        metrics=("matthews_correlation",), main_metric="matthews_correlation",
        tsv_dir="diagnostic",
        labeled_tsv=TsvFormat(texts=_PAIR, index="index"),
        test_tsv=TsvFormat(texts=_PAIR, index="index"),
        submission_file="AX.tsv", score_group=None,
        splits=MappingProxyType({"test": Split("diagnostic.tsv", "test", labeled=False)}),
    ),
)

TASKS: Mapping[str, GlueTask] = MappingProxyType({task.name: task for task in _TASK_LIST})

# Spellings users type for the same task: "SST-2", "sst-2", "mnli_mismatched", ...
_ALIASES = {
    **{task.display_name.lower(): task.name for task in _TASK_LIST},
    **{task.display_name.lower().replace("-", ""): task.name for task in _TASK_LIST},
    "mnli-m": "mnli", "mnli_matched": "mnli", "mnli_mismatched": "mnli-mm", "mnli-mismatched": "mnli-mm",
    "sts-b": "stsb", "diagnostic": "ax",
}



def glue_task(name: str) -> GlueTask | None:
    """The GLUE task a name or one of its spellings (``SST-2``, ``MNLI-mm``) stands for, else ``None``."""
    key = name.strip().lower()
    return TASKS.get(_ALIASES.get(key, key))


def is_glue_name(name: str) -> bool:
    """Whether a name is a GLUE task or one of its spellings (custom tasks may not take one)."""
    key = name.strip().lower()
    return key in TASKS or key in _ALIASES

