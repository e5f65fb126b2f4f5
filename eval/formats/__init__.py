"""Model formats, one module each, with its reader (``detect``, a predictor class) and, where the
toolkit writes the format, its writer. :func:`eval.predictors.load_predictor` walks :data:`FORMATS`
in order: the first format that recognises a path opens it (PyTorch last: it takes anything else,
a folder or a Hub id)."""
