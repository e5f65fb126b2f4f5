"""``distill general``: distil a pre-trained teacher's attention and hidden states into a random student on raw text."""

from __future__ import annotations

from pathlib import Path

import torch

from distill.builders import frozen
from distill.config import GeneralConfig
from distill.data import CorpusBatches, GlueBatches
from distill.loop import seed_everything, train
from distill.objectives import DistillObjective, build_distill_loss, distill_step
from distill.probe import PROBE_FILE, probe_beside_teacher
from distill.run_folder import RunFolder
from distill.student_init import embeddings_from_teacher
from distill.students import get_student
from distill.teacher_outputs import LiveTeacher, teacher_source
from distill.teachers import card_name, load_model, load_tokenizer
from eval.core.artifacts import write_json
from eval.core.model_card import describe_model

# With teacher_cache the whole corpus is held as packed sequences and its teacher outputs on
# disk; beyond this many sequences (about 128M tokens at length 128) stream it instead.
MAX_CACHED_SEQUENCES = 1_000_000


def general_distill(cfg: GeneralConfig) -> Path:
    """Train ``cfg.student`` from random init to match ``cfg.teacher`` on ``cfg.corpus``; returns the folder."""
    spec = get_student(cfg.student)
    corpus_text = cfg.corpus if isinstance(cfg.corpus, str) else ", ".join(cfg.corpus)
    teacher_name = describe_model(card_name(cfg.teacher))
    card = {"summary": f"A student of {spec.layers} layers, hidden size {spec.hidden} and {spec.heads} heads, "
                       f"general-distilled from {teacher_name} on unlabeled text ({corpus_text}): "
                       f"{' + '.join(cfg.losses)} losses. Fine-tune or task-distill it on a task before use.",
            "base_model": card_name(cfg.teacher), "base_model_relation": "finetune",
            "tags": ("distillation", "tinybert", "general-distillation")}
    with RunFolder.start(cfg, cfg.train) as run:
        if run.finished:
            return run.tidy("general", **card)
        tokenizer = load_tokenizer(cfg.teacher)
        teacher = frozen(load_model(cfg.teacher, "base"), run.dist)
        torch.manual_seed(cfg.train.seed)  # the same initial student in every process
        from transformers import BertModel

        student = BertModel(spec.bert_config(teacher.config), add_pooling_layer=False)
        if cfg.student_init == "teacher_embeddings":
            embeddings_from_teacher(student, teacher)
        loss = build_distill_loss(cfg.losses, cfg.layer_map, cfg.attention_mode, teacher, student,
                                  relation_heads=cfg.relation_heads)
        corpus = CorpusBatches(cfg.corpus, tokenizer, cfg.train.max_seq_length, cfg.train.batch_size,
                               cfg.train.seed, run.dist.rank, run.dist.world_size, text_field=cfg.corpus_text_field,
                               segments=cfg.segments, data_dir=cfg.data_dir, deduplicate=cfg.deduplicate)
        epochs, record = None, {}
        if cfg.teacher_cache:  # finite corpus: packed once, teacher outputs read from disk on every pass
            encoded = corpus.materialize(MAX_CACHED_SEQUENCES)
            batches = GlueBatches(encoded, None, cfg.train.batch_size, cfg.train.seed, True, run.dist.rank,
                                  run.dist.world_size)
            epochs = cfg.train.max_steps * cfg.train.grad_accum / batches.batches_per_epoch
            teacher_outputs, seconds = teacher_source(teacher, loss.teacher_needs, encoded, cfg.teacher_cache,
                                                      cfg.train.eval_batch_size, run.dist.device)
            record = {"corpus_sequences": len(encoded), "teacher_outputs_seconds": seconds}
        else:
            batches, teacher_outputs = corpus, LiveTeacher(teacher, loss.teacher_needs)
        seed_everything(cfg.train.seed + run.dist.rank)
        result = train(DistillObjective(student, loss), batches, distill_step(teacher_outputs), cfg.train, run.out,
                       cfg, run.dist, epochs=epochs, description="general distillation")
        run.save_model(student, tokenizer)
        if run.dist.is_main:
            record["probe"] = probe_beside_teacher(student, teacher, tokenizer, cfg.probe, run.dist.device)
            write_json(run.out / PROBE_FILE, record["probe"])
        return run.finish("general", {**result, "details": record}, **card)
