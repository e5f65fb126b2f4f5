"""The orchestrator: recipes that chain `distill`, `quantize` and `glue` stages into one resumable run.

It is the only package that imports all three (``eval`` is the base; ``distill`` and ``quantize``
build on it and never import each other or this package).
"""

# The modules other code may build on: reading recipes into plans, and running them.
PUBLIC_MODULES = ("pipeline", "pipeline.recipe", "pipeline.runner")
