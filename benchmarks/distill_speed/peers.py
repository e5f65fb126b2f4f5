"""TextBrewer and the sum-of-parts limit: the cells that read the toolkit's internals, by design.

TextBrewer gets the toolkit's own batches, initial student and projections, losses and optimizer
(so the comparison is of loops, not of settings), and the parts cell times the teacher's forward,
the student's forward + backward and the optimizer step one by one. Both need the pieces behind
``distill task`` (``distill.builders``, ``features``, ``loop``, ``objectives``, ``teacher_outputs``),
which are not the public API; ``tests/test_layering.py`` allows them here and nowhere else in
``benchmarks/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks.distill_speed.settings import BATCH, INTERMEDIATE, LENGTH, LR, SEED, dev_predictions, load_average

TEXTBREWER_NOTES = [
    "Teacher and student run with the toolkit's `distill_scores` attention (pre-softmax scores as "
    "`output_attentions`), set on the models before they are handed to TextBrewer.",
    "Attention: the adaptors return scores averaged over heads (12 teacher heads, 2 student heads), "
    "matched with `attention_mse` and the input mask: the toolkit's `head_mean` mode, same value. "
    "TextBrewer's own head reduction, `attention_mse_sum`, sums heads, which compares a 2-head sum "
    "with a 12-head sum.",
    "Hidden and embedding losses: `hidden_mse` with the input mask equals the toolkit's loss. Projections: "
    "TextBrewer learns one `linear` projection per match (3), the toolkit one for the embeddings and one "
    "shared by the hidden layers (TinyBERT); TextBrewer's start from the toolkit's initial projections.",
    "Prediction phase: `kd_loss_type='ce'`, temperature 1: TextBrewer's soft cross-entropy has the same "
    "gradients as the toolkit's KL form (they differ by the teacher's entropy, a constant).",
    "Optimizer: the same parameter groups, fused AdamW and schedule function as the toolkit; "
    "TextBrewer adds its projections as extra groups (weight decay on their biases too) and clips "
    "the student's gradients only, the toolkit the projections' as well.",
    "Data: the toolkit's batches, in its order. With `is_caching_logits` TextBrewer shuffles the "
    "cached batches (the same batches, in another order); it refuses caching with `num_steps`, so "
    "that phase runs whole epochs.",
    "The teacher runs under `torch.no_grad` on the padded batch (TextBrewer's `get_outputs_from_batch`); "
    "nothing in TextBrewer was patched. It imports and runs with torch 2.13 / transformers 5 "
    "(`absl-py` had to be added for its tensorboard import).",
]


def _setup(spec: dict):
    """Teacher, student, tokenizer, batches and the toolkit's loss, built exactly as ``distill task`` builds them."""
    from distill.builders import frozen, glue_batches, new_student, train_data
    from distill.config import TrainSettings
    from distill.features import expose_attention_scores
    from distill.loop import Distributed
    from distill.objectives import build_distill_loss
    from distill.teachers import load_model, load_tokenizer
    from eval.core.console import quiet_third_party_logs
    from eval.tasks import get_task

    quiet_third_party_logs()
    task, dist = get_task("sst2"), Distributed()
    seed = spec.get("seed", SEED)
    settings = TrainSettings(batch_size=BATCH, max_seq_length=LENGTH, lr=LR, seed=seed, train_limit=spec["examples"],
                             eval_batch_size=64, device="cpu")
    teacher = frozen(load_model(spec["teacher"], "classifier", task, require_head=True), dist)
    tokenizer = load_tokenizer(spec["teacher"])
    student = new_student("tiny", teacher.config, task, seed)
    for model in (teacher, student):
        expose_attention_scores(model)
    batches = glue_batches(task, train_data(task, spec["data_dir"], None, settings), tokenizer, settings, dist)
    # Right after the student, as in `distill task`: the same initial projections.
    loss = build_distill_loss(INTERMEDIATE, "uniform", "auto", teacher, student)
    return task, settings, teacher, student, tokenizer, batches, loss


def _stream(batches, steps: int) -> list[dict]:
    """The toolkit's first ``steps`` batches (epochs reshuffled as it does), model inputs only."""
    out, epoch = [], 0
    while len(out) < steps:
        for batch in batches.iterate(epoch):
            out.append({k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
            if len(out) == steps:
                break
        epoch += 1
    return out


def textbrewer_cell(spec: dict) -> dict:
    """TextBrewer 0.2.1 configured as the toolkit's two phases (see ``TEXTBREWER_NOTES``)."""
    import torch
    import textbrewer
    from textbrewer import BasicDistiller, DistillationConfig, GeneralDistiller, TrainingConfig

    from distill.builders import dev_evaluator
    from distill.loop import Distributed, parameter_groups, seed_everything, warmup_then_decay

    task, settings, teacher, student, tokenizer, batches, loss = _setup(spec)
    work = Path(spec["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def intermediate_adaptor(batch, outputs):
        return {"hidden": outputs.hidden_states, "inputs_mask": batch["attention_mask"],
                "attention": [scores.mean(dim=1, keepdim=True) for scores in outputs.attentions]}

    def prediction_adaptor(batch, outputs):
        return {"logits": outputs.logits}

    def optimizer_and_schedule(steps: int):
        optimizer = torch.optim.AdamW(parameter_groups(student, settings.weight_decay), lr=LR,
                                      weight_decay=settings.weight_decay, fused=True)
        schedule = warmup_then_decay(int(settings.warmup * steps), steps)
        return optimizer, (lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))

    width_s, width_t = student.config.hidden_size, teacher.config.hidden_size
    matches = [{"layer_T": t, "layer_S": s, "feature": "hidden", "loss": "hidden_mse", "weight": 1.0,
                "proj": ["linear", width_s, width_t, {}]} for t, s in loss.layer_map]
    matches += [{"layer_T": t - 1, "layer_S": s - 1, "feature": "attention", "loss": "attention_mse", "weight": 1.0}
                for t, s in loss.layer_map if s > 0]
    distiller = GeneralDistiller(TrainingConfig(output_dir=str(work / "intermediate"), device="cpu",
                                                ckpt_steps=spec["intermediate_steps"]),
                                 DistillationConfig(intermediate_matches=matches), teacher, student,
                                 intermediate_adaptor, intermediate_adaptor)
    with torch.no_grad():  # start from the toolkit's initial projections
        for projection, (_, s) in zip(distiller.projs, loss.layer_map):
            projection.load_state_dict(loss.projections["embedding" if s == 0 else "hidden"].state_dict())
    stamps: list[float] = []

    def stamp(batch):  # TextBrewer calls it at the start of every step
        stamps.append(time.perf_counter())
        return batch

    steps = spec["intermediate_steps"]
    optimizer, scheduler_class = optimizer_and_schedule(steps)
    seed_everything(settings.seed)
    load = load_average()
    started = time.perf_counter()
    distiller.train(optimizer, _stream(batches, steps), num_steps=steps, scheduler_class=scheduler_class,
                    scheduler_args={}, max_grad_norm=settings.max_grad_norm, batch_postprocessor=stamp,
                    output_hidden_states=True, output_attentions=True)
    wall = time.perf_counter() - started
    phases = {"intermediate": {"steps": steps, "examples": steps * BATCH, "wall_seconds": wall,
                               "loop_examples_per_second": (len(stamps) - 1) * BATCH / (stamps[-1] - stamps[0]),
                               "phase_examples_per_second": steps * BATCH / wall}}
    if spec["prediction_steps"]:
        epoch = _stream(batches, batches.batches_per_epoch)
        epochs = spec["prediction_steps"] // len(epoch)
        predictor = BasicDistiller(TrainingConfig(output_dir=str(work / "prediction"), device="cpu"),
                                   DistillationConfig(temperature=1, kd_loss_type="ce", is_caching_logits=True),
                                   teacher, student, prediction_adaptor, prediction_adaptor)
        optimizer, scheduler_class = optimizer_and_schedule(epochs * len(epoch))
        seed_everything(settings.seed)
        started = time.perf_counter()
        predictor.train(optimizer, epoch, num_epochs=epochs, scheduler_class=scheduler_class, scheduler_args={},
                        max_grad_norm=settings.max_grad_norm)
        wall = time.perf_counter() - started
        phases["prediction"] = {"steps": epochs * len(epoch), "examples": epochs * len(epoch) * BATCH,
                                "wall_seconds": wall, "phase_examples_per_second": epochs * len(epoch) * BATCH / wall}
    result = {"phases": phases, "load_before": load, "load_after": load_average(), "textbrewer": textbrewer.__version__}
    if spec["prediction_steps"]:
        result["dev_accuracy"] = dev_evaluator(student, tokenizer, task, spec["data_dir"], settings, Distributed())()["score"]
    if spec.get("predictions"):
        from eval.predictors import TorchPredictor

        result["dev"] = dev_predictions(TorchPredictor.from_module(student, "cpu"), tokenizer, spec["data_dir"])
    shutil.rmtree(work, ignore_errors=True)
    return result


def parts_cell(spec: dict) -> dict:
    """Teacher forward alone and student forward + backward alone, batch by batch, on the same batches.

    ``teacher_padded``: one ``no_grad`` forward over the padded batch (what TextBrewer runs, and the
    toolkit did before issue 14); ``teacher_live``: the toolkit's ``LiveTeacher``;
    ``teacher_onnxruntime_grouped``: the same groups through ONNX Runtime (:func:`onnx_teacher`; a
    measurement only, the toolkit does not run it); ``student_forward_backward``: the student's
    forward, the loss against the live teacher's outputs (computed beforehand) and the backward;
    ``optimizer``: clipping and the AdamW step.
    """
    import torch

    from distill.features import extract
    from distill.loop import build_optimizer
    from distill.objectives import DistillObjective
    from distill.teacher_outputs import LiveTeacher, length_groups

    task, settings, teacher, student, tokenizer, batches, loss = _setup(spec)
    stream = _stream(batches, spec["intermediate_steps"])
    objective = DistillObjective(student, loss).train()
    optimizer, scheduler = build_optimizer(objective, settings, LR, len(stream))
    live = LiveTeacher(teacher, loss.teacher_needs)
    onnx = onnx_teacher(teacher, loss.teacher_needs, Path(spec["work"]), spec["threads"])
    seconds = {"teacher_padded": 0.0, "teacher_live": 0.0, "teacher_onnxruntime_grouped": 0.0,
               "student_forward_backward": 0.0, "optimizer": 0.0}
    parity = 0.0
    load = load_average()
    for batch in stream:
        clock = time.perf_counter()
        with torch.no_grad():
            extract(teacher, batch, hidden=True, attention=True)
        seconds["teacher_padded"] += time.perf_counter() - clock
        clock = time.perf_counter()
        targets = live(batch)
        seconds["teacher_live"] += time.perf_counter() - clock
        clock = time.perf_counter()
        groups = [(rows, width, onnx({k: v[rows, :width] for k, v in batch.items()}))
                  for rows, width in length_groups(batch["attention_mask"].sum(dim=1).tolist())]
        seconds["teacher_onnxruntime_grouped"] += time.perf_counter() - clock
        for rows, width, outputs in groups:  # ONNX Runtime's last hidden state against the live teacher's
            last = len(loss.teacher_needs.hidden) - 1
            real = batch["attention_mask"][rows, :width].bool()
            live_last = targets.hidden_states[loss.teacher_needs.hidden[last]][rows, :width]
            parity = max(parity, float((torch.from_numpy(outputs[last]) - live_last)[real].abs().max()))
        clock = time.perf_counter()
        objective(batch, targets)["loss"].backward()
        seconds["student_forward_backward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds["optimizer"] += time.perf_counter() - clock
    examples = len(stream) * BATCH
    shutil.rmtree(spec["work"], ignore_errors=True)
    return {"examples": examples, "seconds": seconds, "load_before": load, "load_after": load_average(),
            "onnxruntime_max_abs_difference_last_hidden": parity,
            "examples_per_second": {name: examples / s for name, s in seconds.items()}}


def onnx_teacher(teacher, needs, folder: Path, threads: int):
    """The teacher in ONNX Runtime, exported with exactly the outputs ``needs`` names (hidden states,
    then head-averaged attention scores): ``batch -> [numpy arrays]``. For the issue's question whether
    ONNX Runtime pays for the teacher's forward on CPU; the toolkit itself does not use it.
    """
    import warnings

    import onnxruntime
    import torch

    class Needed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = teacher

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             output_hidden_states=True, output_attentions=True)
            attention = [out.attentions[layer - 1] for layer in needs.attention]
            attention = [a.mean(dim=1, keepdim=True) for a in attention] if needs.head_mean else attention
            return (*[out.hidden_states[i] for i in needs.hidden], *attention)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = [f"hidden_{i}" for i in needs.hidden] + [f"attention_{layer}" for layer in needs.attention]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes |= {o: {0: "batch", 1: "sequence"} if o.startswith("hidden") else {0: "batch", 2: "sequence", 3: "keys"}
             for o in outputs}
    example = torch.ones(2, 8, dtype=torch.long)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings
        torch.onnx.export(Needed().eval(), (example, example, example * 0), str(folder / "teacher.onnx"),
                          input_names=names, output_names=outputs, dynamic_axes=axes, opset_version=17, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(folder / "teacher.onnx"), options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {n: batch[n].numpy() for n in names})
