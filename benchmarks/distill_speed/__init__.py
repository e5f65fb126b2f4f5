"""Distillation and augmentation speed against the peers, side by side (issue 14): every figure in one run.

Run from the repository root (about an hour on two shared cores):

    OMP_NUM_THREADS=1 python -m benchmarks.distill_speed --teacher /work/main/runs/glue/teacher-sst2

Writes ``benchmarks/results/distill_speed.json`` and renders ``docs/speed.md`` from it
(``--render`` re-renders the page from the JSON alone). Needs ``pip install --no-deps
textbrewer==0.2.1.post1 tensorboard absl-py`` (the ``bench`` extra).

Setting: SST-2 (the first ``--examples`` training examples, dev split for accuracy), the fine-tuned
MiniLM-L6 teacher, the ``tiny`` student (same initial weights everywhere), uniform layer map,
batch 32, length 64, AdamW at 3e-4 with 10% linear warmup then linear decay, seed 42. Systems:

- ``toolkit``: ``distill task`` (``api.task_distill``) of this tree: intermediate phase (embedding,
  hidden and attention losses, live teacher) then prediction phase (soft cross-entropy on teacher
  logits computed once before the loop);
- ``toolkit + store``: ``teacher_cache`` set, the store already built (a later seed or student
  reading it); the one-off build is timed separately;
- ``textbrewer``: TextBrewer 0.2.1 configured as the toolkit's phases through its documented
  adaptors and ``intermediate_matches`` (``GeneralDistiller``), then ``BasicDistiller`` with
  ``is_caching_logits`` for the prediction phase (its own speed feature); see ``TEXTBREWER_NOTES``;
- ``parts``: the sum-of-parts limit: teacher forward alone, and student forward + backward alone
  (and its optimizer step), on the same batches; and the teacher's forward in ONNX Runtime.

Each measurement runs in a process of its own (a clean thread count); rounds interleave the systems, reversing the order every round, and the figures are
medians over rounds, quoted as ratios; the load average is recorded beside each. Loop
throughput is the training loop's own clock (the toolkit's meter; for TextBrewer, the time between
the first and the last step, taken by its documented ``batch_postprocessor`` hook); phase
throughput adds the teacher pass made before the loop. Augmentation: ``distill augment`` against
``reference_augment`` (:mod:`benchmarks.distill_speed.cells`), a re-implementation of the loop of TinyBERT's reference
``data_augmentation.py``, on the same 1,000 sentences with the same candidate source and settings.

Modules: ``settings`` (the shared settings and files), ``cells`` (one measurement per process, through
the packages' public API), ``peers`` (TextBrewer and the sum-of-parts limit: the one module that reads
the toolkit's internals, since it hands TextBrewer the toolkit's own batches, losses and optimizer and
times the loop's pieces one by one), ``report`` (summary and ``docs/speed.md``), ``__main__`` (the
rounds). The JSON of 2026-12-01 also holds ``toolkit before``, the same command on the branch point
of issue 14 (a13ec11); that system is retired: it ran today's cell code against a two-week-old tree.
"""
