"""Recipe schemas for every `distill` command: frozen dataclasses validated by :func:`eval.core.config.load_config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from distill.students import check_student_choice
from eval.core.config import load_config, seed_problem
from eval.harness import DEVICE
from eval.core.model_card import license_problem

# Names a recipe may use in ``losses``; each is a function in distill.losses.
INTERMEDIATE_LOSSES = ("embedding", "hidden", "attention")
# logits: the teacher's soft labels; labels: gold labels; teacher_labels: the teacher's hard labels
# (its argmax; regression: its score), i.e. label-only training on teacher-labelled data
PREDICTION_LOSSES = ("logits", "labels", "teacher_labels")
LOSS_NAMES = INTERMEDIATE_LOSSES + PREDICTION_LOSSES
# auto: per_head when the head counts match, relation (MiniLM-v2) otherwise; see distill/losses.py
AttentionMode = Literal["auto", "per_head", "head_mean", "relation"]
Segments = Literal["single", "pair"]  # general distillation: one segment per sequence, or BERT-style pairs
# BERT-family models have at most 512 positions; a longer limit is a typo, and a huge one would
# allocate huge batches before any model could refuse them.
MAX_SEQ_LENGTH = 512


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and bookkeeping shared by every stage.

    ``batch_size`` is per process; with ``torchrun`` the global batch is
    ``batch_size * grad_accum * world_size``. ``max_steps`` caps optimizer steps (smoke runs,
    streamed corpora); ``train_limit`` keeps only the first N training examples.
    """

    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of the optimizer steps
    epochs: float = 3.0
    max_steps: int | None = None
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    max_seq_length: int = 128
    seed: int = 42
    precision: Literal["fp32", "bf16", "fp16"] = "bf16"  # autocast on CUDA only; CPU runs fp32
    device: str = "auto"
    log_every: int = 20
    eval_every: int = 0  # optimizer steps between dev evaluations; 0 = once per epoch
    save_every: int = 200  # optimizer steps between checkpoints
    checkpoint_limit: int = 2  # checkpoints kept while the run is unfinished (for resuming)
    keep_checkpoints: bool = False  # keep them once the run completes (default: removed)
    eval_batch_size: int = 64
    eval_limit: int | None = None  # score only the first N dev examples
    train_limit: int | None = None
    shuffle: bool = True
    # Keep the student's word-embedding table as it starts (from general distillation, say): a small
    # student's table is most of its parameters, and on a small task set it can memorise the
    # training words instead of learning to compare sentences.
    freeze_word_embeddings: bool = False
    # Training labels of one class only are refused (a wrong file or label column, usually): the
    # model would learn to answer that class. True trains anyway.
    allow_single_class: bool = False
    # Where the loop also writes its figures (train_log.jsonl is always written): TensorBoard event
    # files in the run folder's tensorboard/, or nowhere else.
    report_to: Literal["tensorboard", "none"] = "tensorboard"

    def __post_init__(self):
        positive = ("batch_size", "grad_accum", "log_every", "save_every", "checkpoint_limit", "eval_batch_size")
        bad = [n for n in positive if getattr(self, n) < 1]
        if bad:
            raise ValueError(f"{', '.join('train.' + n for n in bad)} must be at least 1")
        if not 8 <= self.max_seq_length <= MAX_SEQ_LENGTH:
            raise ValueError(f"train.max_seq_length must be between 8 and {MAX_SEQ_LENGTH}, got {self.max_seq_length}")
        if self.lr <= 0 or self.epochs <= 0:
            raise ValueError("train.lr and train.epochs must be positive")
        if not 0 <= self.warmup < 1:
            raise ValueError("train.warmup is a fraction of the steps, in [0, 1)")
        if not DEVICE.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
        if seed_problem("train.seed", self.seed):
            raise ValueError(seed_problem("train.seed", self.seed))
        for name in ("max_steps", "train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"train.{name} must be at least 1 (or null for no limit)")


@dataclass(frozen=True)
class Phase:
    """One task-distillation phase: which losses with which weights, for how long.

    ``lr`` and ``epochs`` override ``train`` for this phase; ``temperature`` softens the
    ``logits`` loss (TinyBERT uses 1).
    """

    name: str
    losses: dict[str, float]
    epochs: float | None = None
    lr: float | None = None
    temperature: float = 1.0

    def __post_init__(self):
        unknown = sorted(set(self.losses) - set(LOSS_NAMES))
        if unknown:
            raise ValueError(f"phase {self.name!r}: unknown losses {unknown}; choose from {', '.join(LOSS_NAMES)}")
        if not self.losses or all(w == 0 for w in self.losses.values()):
            raise ValueError(f"phase {self.name!r} needs at least one loss with a non-zero weight")
        if any(w < 0 for w in self.losses.values()):
            raise ValueError(f"phase {self.name!r}: loss weights must be >= 0")
        if self.temperature <= 0:
            raise ValueError(f"phase {self.name!r}: temperature must be positive")
        if not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"phase name {self.name!r} must be letters, digits, - or _ (it names a folder)")

    @property
    def uses_intermediate(self) -> bool:
        return any(self.losses.get(n, 0) for n in INTERMEDIATE_LOSSES)


LayerMapSpec = str | tuple[tuple[int, int], ...]
StudentChoice = str | dict[str, int]


@dataclass(frozen=True)
class FinetuneConfig:
    """``distill finetune``: fine-tune a teacher, or a randomly initialised student preset, on labels."""

    task: str
    model: str  # Hub id, alias, folder, or a student preset (random init, the label-only baseline)
    output_dir: str
    tokenizer: str | None = None  # where a preset student takes its vocabulary; default minilm-l6
    data_dir: str | None = None
    # the model card's `license:` (a Hub license id: apache-2.0, mit, ...); default: the base model's, else other
    license: str | None = None
    train: TrainSettings = TrainSettings()

    def __post_init__(self):
        check_license(self.license)


@dataclass(frozen=True)
class ProbeSettings:
    """What a transfer probe measures (``distill general`` runs it at the end; ``distill probe`` on demand).

    Attributes:
        similarity_task: pairs with gold similarity scores for the zero-shot measurement (``null``: skip).
        linear_task: a labelled task for the linear probe (``null``: skip).
        data_dir: where both tasks' data lives (``null``: the Hub).
        examples: pairs / examples sampled from each task's train split.
        steps: full-batch optimisation steps of the linear probe.
        max_seq_length: tokens per sentence.
        enabled: run the probe at the end of ``distill general``.
    """

    similarity_task: str | None = "stsb"
    linear_task: str | None = "sst2"
    data_dir: str | None = None
    examples: int = 1500
    steps: int = 300
    max_seq_length: int = 64
    seed: int = 0
    enabled: bool = True

    def __post_init__(self):
        if self.examples < 30 or self.steps < 1 or not 8 <= self.max_seq_length <= 512:
            raise ValueError("probe.examples must be at least 30, probe.steps at least 1 and probe.max_seq_length "
                             "between 8 and 512")


@dataclass(frozen=True)
class GeneralConfig:
    """``distill general``: intermediate-layer distillation of a random student on unlabeled text."""

    teacher: str
    student: StudentChoice
    # a text file, a folder of text files, JSONL, hub:<dataset>[:<config>] or task:<task> (its train
    # texts); or a list of them, read in turn, each distinct text once (deduplicate)
    corpus: str | tuple[str, ...]
    output_dir: str
    data_dir: str | None = None  # where task: sources read their train split (default: the Hub)
    deduplicate: bool = True
    corpus_text_field: str | None = None  # JSONL records / Hub rows: the text field (default `text`)
    layer_map: LayerMapSpec = "uniform"
    attention_mode: AttentionMode = "auto"
    # relation mode: R relation heads (default: the largest R dividing both widths, at most the teacher's heads)
    relation_heads: int | None = None
    losses: dict[str, float] = field(default_factory=lambda: {"attention": 1.0, "hidden": 1.0, "embedding": 1.0})
    # A folder for the teacher's outputs on the corpus: with it, the corpus is read once into
    # packed sequences, the teacher runs once over them, and every later pass (and every other run
    # on the same corpus and teacher) reads its outputs from disk. For corpora that fit on disk.
    teacher_cache: str | None = None
    # single: one segment per sequence; pair: [CLS] A [SEP] B [SEP] with B of token type 1, half the
    # time unrelated text, as BERT's and TinyBERT's pre-training data
    segments: Segments = "single"
    # random, or teacher_embeddings: the student's embedding tables start as the teacher's, projected
    # onto their top principal directions (distill/student_init.py)
    student_init: Literal["random", "teacher_embeddings"] = "random"
    # measured at the end, for the student and the teacher (distill/probe.py): did it learn anything?
    probe: ProbeSettings = ProbeSettings()
    # the model card's `license:` (a Hub license id: apache-2.0, mit, ...); default: the base model's, else other
    license: str | None = None
    train: TrainSettings = TrainSettings()

    def __post_init__(self):
        check_student_choice(self.student)
        check_license(self.license)
        bad = sorted(set(self.losses) - set(INTERMEDIATE_LOSSES))
        if bad:
            raise ValueError(f"general distillation has no labels or logits: losses {bad} are not allowed; "
                             f"choose from {', '.join(INTERMEDIATE_LOSSES)}")
        if self.train.max_steps is None:
            raise ValueError("general distillation streams its corpus, so train.max_steps must be set")


def default_phases() -> tuple[Phase, ...]:
    return (Phase("intermediate", {"embedding": 1.0, "hidden": 1.0, "attention": 1.0}, epochs=10),
            Phase("prediction", {"logits": 1.0}, epochs=3))


@dataclass(frozen=True)
class TaskConfig:
    """``distill task``: TinyBERT's two phases (intermediate layers, then predictions) on a GLUE task."""

    task: str
    teacher: str  # a fine-tuned teacher folder (or Hub id) with the task's classifier head
    student: StudentChoice  # preset, custom shape, or a (general-distilled) student folder
    output_dir: str
    data_dir: str | None = None
    augmented: str | None = None  # a `distill augment` output folder, used instead of the train split
    # In-domain text without labels (a text file, one example per line, the texts of a pair
    # separated by a tab; or JSONL): the teacher labels it, the student learns from it too.
    unlabeled: str | None = None
    layer_map: LayerMapSpec = "uniform"
    attention_mode: AttentionMode = "auto"
    # relation mode: R relation heads (default: the largest R dividing both widths, at most the teacher's heads)
    relation_heads: int | None = None
    phases: tuple[Phase, ...] = field(default_factory=default_phases)
    # A folder for the teacher's outputs on the training examples, computed once and shared by
    # every phase, epoch, seed and student size that trains on the same examples and teacher.
    teacher_cache: str | None = None
    # the model card's `license:` (a Hub license id: apache-2.0, mit, ...); default: the base model's, else other
    license: str | None = None
    train: TrainSettings = TrainSettings()

    def __post_init__(self):
        check_student_choice(self.student)
        check_license(self.license)
        names = [p.name for p in self.phases]
        if not names:
            raise ValueError("task distillation needs at least one phase")
        if len(set(names)) != len(names):
            raise ValueError(f"phase names must be unique, got {names}")
        # A phase that learns from gold labels alone has nothing to learn from unlabeled examples.
        gold = [p.name for p in self.phases if p.losses.get("labels") and not p.uses_intermediate
                and not any(p.losses.get(n) for n in ("logits", "teacher_labels"))]
        if self.unlabeled and gold:
            raise ValueError(f"phases {gold} learn from the 'labels' loss alone, but the unlabeled examples have no "
                             f"labels; add the logits loss to them, or drop the unlabeled data")


@dataclass(frozen=True)
class AugmentConfig:
    """``distill augment``: TinyBERT data augmentation of a task's training split."""

    task: str
    model: str  # masked LM for candidates; its input embeddings give the neighbours
    output_dir: str
    data_dir: str | None = None
    candidates: Literal["auto", "mlm", "embedding"] = "auto"  # auto: mlm when the model has the head
    glove: str | None = None  # a GloVe text file for multi-piece words (TinyBERT); default the model's embeddings
    # N new examples per original; auto: TinyBERT's 20 below 10,000 training examples, else about
    # 200,000 examples in all
    variants: int | Literal["auto"] = "auto"
    replace_prob: float = 0.4  # p, per word
    # pair tasks: swap words of the first text only (TinyBERT) or of both
    edit: Literal["first", "both"] = "both"
    # pair tasks: a word both texts have is swapped the same way in both (tie), in each text on its
    # own (free; with edit: first, in the first text only, as the TinyBERT reference), or never (keep)
    shared_words: Literal["free", "tie", "keep"] = "tie"
    # a fine-tuned classifier of the task (the teacher) that judges every variant: one whose predicted
    # class differs from the teacher's on the original (regression: whose score moves by more than
    # filter_tolerance) changed the meaning and is dropped; how often is recorded in augment.json
    filter_model: str | None = None
    filter_tolerance: float = 0.5
    # pair tasks: also pair every training text with its `pairs` nearest other training texts (by the
    # model's mean-pooled states) and one random one. Mined pairs have no gold label: the teacher's
    # outputs are their only target (mined.tsv, read by `distill task --augmented` as unlabeled data).
    # auto: 5 for a pair task below 10,000 training examples (what lifted STS-B and MRPC), else none
    pairs: int | Literal["auto"] = "auto"
    top_k: int = 15  # candidates per word
    max_seq_length: int = 128
    batch_size: int = 64
    chunk_size: int = 256  # examples per cached part file (the unit of resume)
    limit: int | None = None  # augment only the first N examples
    seed: int = 42
    device: str = "auto"

    def __post_init__(self):
        if self.variants != "auto" and self.variants < 1:
            raise ValueError("variants must be at least 1, or auto")
        if self.top_k < 1 or self.chunk_size < 1 or self.batch_size < 1:
            raise ValueError("top_k, chunk_size and batch_size must be at least 1")
        if not self.filter_tolerance > 0:
            raise ValueError("filter_tolerance must be positive")
        if self.pairs != "auto" and self.pairs < 0:
            raise ValueError("pairs must be 0 (no mined pairs) or more, or auto")
        if not 0 <= self.replace_prob <= 1:
            raise ValueError("replace_prob is a probability in [0, 1]")
        if not DEVICE.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
        if not 8 <= self.max_seq_length <= MAX_SEQ_LENGTH:
            raise ValueError(f"max_seq_length must be between 8 and {MAX_SEQ_LENGTH}, got {self.max_seq_length}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 (or null for every example), got {self.limit}")
        if seed_problem("seed", self.seed):
            raise ValueError(seed_problem("seed", self.seed))


@dataclass(frozen=True)
class CutConfig:
    """``distill cut``: a student made of the model's embeddings and some of its layers (distill/cut.py)."""

    model: str  # a BERT-architecture model (alias, folder or Hub id); its head comes along if it has one
    layers: int | tuple[int, ...]  # how many layers to keep (evenly spread), or which (1-based)
    output_dir: str
    # the model card's `license:` (a Hub license id: apache-2.0, mit, ...); default: the base model's, else other
    license: str | None = None

    def __post_init__(self):
        check_license(self.license)


@dataclass(frozen=True)
class PickConfig:
    """``distill pick``: the best of several finished training runs by their dev score, copied to one
    folder (distill/best_run.py): how a sweep (``sweep:`` in a pipeline's stage list) ends."""

    candidates: tuple[str, ...]  # finished finetune or task runs of one task
    output_dir: str

    def __post_init__(self):
        if len(self.candidates) < 2:
            raise ValueError("candidates: give two or more run folders to choose from")


def check_license(license: str | None) -> None:
    """Refuse a model card license that is not a Hub license id (see :func:`eval.core.model_card.license_problem`)."""
    problem = license_problem(license)
    if problem:
        raise ValueError(problem)


CONFIGS = {"finetune": FinetuneConfig, "general": GeneralConfig, "task": TaskConfig, "augment": AugmentConfig, "cut": CutConfig,
           "pick": PickConfig}


def load_recipe(command: str, recipe: str | Path | None = None, flags: Mapping[str, Any] | None = None,
                overrides: list[str] | None = None):
    """defaults < recipe YAML < named flags < ``--set key=value``; every error reported at once."""
    return load_config(CONFIGS[command], recipe, flags=flags, overrides=overrides)
