"""Open the FP32 model a command exports or quantizes; a damaged folder is a one-line error."""

from __future__ import annotations

from pathlib import Path

from eval.errors import UserError, first_line
from eval.predictors import TorchPredictor, load_tokenizer

# Files any of which makes a tokenizer (fast JSON, WordPiece vocab, SentencePiece model).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


def require_tokenizer(folder: Path) -> None:
    """A local model folder must carry its tokenizer: without one ``transformers`` would score the
    model with a default vocabulary of a few tokens (every word ``[UNK]``), a silent wrong result."""
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"model folder {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); "
                        f"save the tokenizer beside the model (tokenizer.save_pretrained)")


def load_classifier(model: str | Path) -> tuple[TorchPredictor, object]:
    """The PyTorch classifier and its tokenizer, on CPU.

    Raises:
        UserError: the folder is missing, lacks its config, weights or tokenizer, or they are
            truncated or corrupt, or it is not a sequence classifier.
    """
    folder = Path(model).expanduser()
    if str(model).startswith(("/", ".", "~")) and not folder.exists():
        raise UserError(f"model folder {model} does not exist; pass a model folder or a Hub id")
    require_tokenizer(folder)
    try:
        predictor = TorchPredictor(str(model), device="cpu")
    except UserError:
        raise
    except Exception as err:  # transformers, safetensors and OS errors all mean a damaged folder here
        raise UserError(f"cannot load model {model}: {first_line(err)}; check that the folder holds a complete "
                        f"config.json and weights (model.safetensors) of a sequence classifier") from None
    return predictor, load_tokenizer(model)
