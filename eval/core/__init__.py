"""The toolkit's kernel: what every package shares and nothing in it depends on the harness.

One-line user errors (``errors``), typed configs from YAML and flags (``config``, ``safe_yaml``),
run records and atomic writes (``artifacts``), console output (``console``), text-file checks
(``text_files``), output folders under a lock (``outputs``) and Hugging Face model cards
(``model_card``). Modules here import nothing of ``eval`` outside ``eval.core``
(``tests/test_layering.py``).
"""
