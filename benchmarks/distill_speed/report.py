"""Summary of the raw rounds (medians, ratios, targets) and ``docs/speed.md``, rendered from the JSON alone."""

from __future__ import annotations

import statistics

from benchmarks.distill_speed.settings import BATCH, LENGTH


def compare_accuracy(runs: dict[str, list[dict]]) -> dict:
    """Dev accuracy per seed, mean ± std, and the paired bootstrap of toolkit against TextBrewer."""
    from eval.stats import mean_std, paired_bootstrap

    out: dict = {}
    for name, results in runs.items():
        mean, std = mean_std([r["dev_accuracy"] for r in results])
        out[name] = {"seeds": [r["seed"] for r in results], "dev_accuracy": [r["dev_accuracy"] for r in results],
                     "mean": mean, "std": std,
                     "intermediate ex/s": statistics.median(r["phases"]["intermediate"]["loop_examples_per_second"]
                                                            for r in results),
                     "prediction ex/s": statistics.median(r["phases"]["prediction"]["phase_examples_per_second"]
                                                          for r in results)}
    toolkit, textbrewer = runs["toolkit"], runs["textbrewer"]
    if all("dev" in r for r in toolkit + textbrewer):
        test = paired_bootstrap("accuracy", [r["dev"]["predictions"] for r in toolkit],
                                [r["dev"]["predictions"] for r in textbrewer], toolkit[0]["dev"]["labels"])
        out["paired_bootstrap"] = {**test, "a": "toolkit", "b": "textbrewer",
                                   "test": "paired bootstrap over the 872 dev examples, accuracy averaged over seeds"}
    return out


def summarise(raw: dict) -> dict:
    """Medians over rounds, the ratios the issue asks for, and each target met or missed."""
    median = statistics.median
    summary: dict = {"by_threads": {}}
    for threads, systems in raw["rounds"].items():
        def rate(name, phase, key="loop_examples_per_second"):
            values = [r["phases"].get(phase, {}).get(key) for r in systems[name]]
            return median(values) if values and None not in values else None

        def ratio(a, b):
            return a / b if a is not None and b is not None else None

        parts = {k: median(r["seconds"][k] / r["examples"] for r in systems["parts"])
                 for k in systems["parts"][0]["seconds"]}  # seconds per example
        limit = 1 / (parts["teacher_padded"] + parts["student_forward_backward"])
        limit_with_optimizer = 1 / (parts["teacher_padded"] + parts["student_forward_backward"] + parts["optimizer"])
        own_parts = 1 / (parts["teacher_live"] + parts["student_forward_backward"] + parts["optimizer"])
        with_onnx = 1 / (parts["teacher_onnxruntime_grouped"] + parts["student_forward_backward"] + parts["optimizer"])
        table = {name: {phase: {"loop": rate(name, phase), "phase": rate(name, phase, "phase_examples_per_second")}
                        for phase in ("intermediate", "prediction")}
                 for name in systems if name != "parts"}
        toolkit, textbrewer = table["toolkit"]["intermediate"]["loop"], table["textbrewer"]["intermediate"]["loop"]
        summary["by_threads"][threads] = {
            "examples_per_second": table,
            "parts_examples_per_second": {k: 1 / v for k, v in parts.items()},
            "sum_of_parts_limit": {"teacher_padded+student_forward_backward": limit,
                                   "teacher_padded+student_forward_backward+optimizer": limit_with_optimizer,
                                   "teacher_live+student_forward_backward+optimizer": own_parts,
                                   "teacher_onnxruntime_grouped+student_forward_backward+optimizer": with_onnx},
            "onnxruntime_teacher_speedup_over_live": parts["teacher_live"] / parts["teacher_onnxruntime_grouped"],
            "onnxruntime_max_abs_difference": max(r["onnxruntime_max_abs_difference_last_hidden"]
                                                  for r in systems["parts"]),
            "ratios": {
                "toolkit/textbrewer intermediate": toolkit / textbrewer,
                "toolkit/textbrewer prediction (phase)": ratio(table["toolkit"]["prediction"]["phase"],
                                                               table["textbrewer"]["prediction"]["phase"]),
                **({"toolkit/toolkit before intermediate": toolkit / table["toolkit before"]["intermediate"]["loop"]}
                   if "toolkit before" in table else {}),  # the retired system, in the JSON of 2026-12-01
                "toolkit + store/textbrewer intermediate": table["toolkit + store"]["intermediate"]["loop"] / textbrewer,
                "toolkit/limit (teacher padded + student f+b)": toolkit / limit,
                "toolkit/limit (+ optimizer)": toolkit / limit_with_optimizer,
                "toolkit/own parts (live teacher + student f+b + optimizer)": toolkit / own_parts,
            },
            "load_average_1m": sorted(r["load_before"][0] for rs in systems.values() for r in rs),
        }
    build = raw["store_build"]["phases"]["intermediate"]
    summary["store_build_seconds_per_example"] = build["teacher_outputs_seconds"] / raw["examples"]
    runs = raw["augmentation"]
    figures = {key: {k: median(r[key] for r in v) for k, v in runs.items()}
               for key in ("words_per_second", "examples_per_second", "loop_words_per_second",
                           "loop_examples_per_second", "setup_seconds")}
    summary["augmentation"] = {**figures,
                               "ratio_loop": figures["loop_words_per_second"]["toolkit"]
                               / figures["loop_words_per_second"]["reference"],
                               "ratio_end_to_end": figures["words_per_second"]["toolkit"]
                               / figures["words_per_second"]["reference"]}
    accuracy = compare_accuracy(raw["accuracy"]) if raw["accuracy"].get("toolkit") else {}
    summary["accuracy_run"] = accuracy
    one = summary["by_threads"].get("1") or next(iter(summary["by_threads"].values()))
    ratio = one["ratios"]["toolkit/textbrewer intermediate"]
    fraction = one["ratios"]["toolkit/limit (teacher padded + student f+b)"]
    test = accuracy.get("paired_bootstrap")
    # Equal or better: toolkit's mean at least TextBrewer's, or a difference the paired test calls a tie.
    as_good = test is not None and (test["difference"] >= 0 or test["p_value"] >= 0.05)
    summary["targets"] = {
        "intermediate >= 1.3x TextBrewer at equal or better dev accuracy": {
            "value": ratio, "met": ratio >= 1.3 and as_good, "accuracy_test": test},
        "intermediate >= 0.9 of the sum-of-parts limit": {"value": fraction, "met": fraction >= 0.9},
        "augmentation >= 10x the reference loop (loop words/s)": {
            "value": summary["augmentation"]["ratio_loop"], "met": summary["augmentation"]["ratio_loop"] >= 10,
            "end_to_end": summary["augmentation"]["ratio_end_to_end"]},
    }
    return summary


# ------------------------------------------------------------------------------------------- report


def render(document: dict) -> str:
    """``docs/speed.md`` from the results JSON (never edited by hand)."""
    s = document["summary"]
    lines = ["# Distillation and augmentation speed", "",
             f"Rendered from `benchmarks/results/distill_speed.json` ({document['date']}, revision "
             f"`{document['git_revision']}`) by `python -m benchmarks.distill_speed --render`. Produced by:", "",
             f"    {document['command']}", "",
             f"SST-2, first {document['settings']['examples']} training examples; fine-tuned MiniLM-L6 teacher "
             f"(`{document['settings']['teacher']}`); `tiny` student; batch {BATCH}, length {LENGTH}; "
             f"{document['settings']['intermediate_steps']} intermediate steps then "
             f"{document['settings']['prediction_steps']} prediction steps; {document['settings']['rounds']} "
             f"interleaved rounds per thread count, medians{_quick(document['settings'])}. "
             f"{_sentence('Teacher: ' + document['settings']['teacher_note'] if document['settings']['teacher_note'] else '')}"
             f"{document['machine']}. Absolute speeds on this "
             "shared machine are noisy: read the ratios. Loop examples/s is the training loop's own clock; "
             "phase examples/s adds the teacher pass made before the loop (prediction phase).", ""]
    lines += ["## Targets", "", "| target | value | met |", "| --- | --- | --- |"]
    for name, target in s["targets"].items():
        test = target.get("accuracy_test")
        extra = (f" (dev accuracy toolkit − TextBrewer {100 * test['difference']:+.2f} points, p = {test['p_value']:.3f})"
                 if test else " (no accuracy run)" if "accuracy_test" in target else "")
        extra += f" ({target['end_to_end']:.2f} end to end)" if "end_to_end" in target else ""
        lines.append(f"| {name} | {target['value']:.2f}{extra} | {'yes' if target['met'] else 'no'} |")
    for threads, block in s["by_threads"].items():
        lines += ["", f"## {threads} thread{'s' if threads != '1' else ''}", "",
                  f"Load average (1 min) at the cells' start: {min(block['load_average_1m']):.1f} to "
                  f"{max(block['load_average_1m']):.1f}.", "",
                  "| system | intermediate loop ex/s | prediction phase ex/s |", "| --- | --- | --- |"]
        for name, phases in block["examples_per_second"].items():
            lines.append(f"| {name} | {_number(phases['intermediate']['loop'])} | "
                         f"{_number(phases['prediction']['phase'])} |")
        lines += ["", "| part (alone, same batches) | ex/s |", "| --- | --- |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in block["parts_examples_per_second"].items()]
        lines += [f"| limit: {k} | {v:.1f} |" for k, v in block["sum_of_parts_limit"].items()]
        lines += ["", f"ONNX Runtime teacher forward (same groups) vs the live torch teacher: "
                      f"{block['onnxruntime_teacher_speedup_over_live']:.2f}x; largest difference on real tokens' last "
                      f"hidden state {block['onnxruntime_max_abs_difference']:.1e}."]
        lines += ["", "| ratio | value |", "| --- | --- |"]
        lines += [f"| {k} | {_number(v, 2)} |" for k, v in block["ratios"].items()]
        if threads == "1":
            lines += ["", f"Building the teacher-output store (one teacher pass over the {document['settings']['examples']} "
                          f"examples, 1 thread): {1000 * s['store_build_seconds_per_example']:.1f} ms per example."]
    if s.get("accuracy_run"):
        settings, runs = document["settings"], s["accuracy_run"]
        lines += ["", "## Dev accuracy after the same steps", "",
                  f"Both pipelines once more, longer: first {settings['accuracy_examples']} SST-2 training examples, "
                  f"{settings['accuracy_intermediate_steps']} intermediate then {settings['accuracy_prediction_steps']} "
                  f"prediction steps, seeds {', '.join(map(str, runs['toolkit']['seeds']))} (the student's "
                  f"initialisation, dropout and data order), 1 thread; SST-2 dev (872 examples)"
                  + (f", by `{document['accuracy_command']}`" if document.get("accuracy_command") else "") + ".", "",
                  "| system | dev accuracy per seed | mean ± std | intermediate loop ex/s | prediction phase ex/s |",
                  "| --- | --- | --- | --- | --- |"]
        for name in ("toolkit", "textbrewer"):
            r = runs[name]
            spread = f" ± {100 * r['std']:.2f}" if r["std"] is not None else ""
            lines.append(f"| {name} | {', '.join(f'{100 * a:.2f}' for a in r['dev_accuracy'])} | "
                         f"{100 * r['mean']:.2f}{spread} | {_number(r['intermediate ex/s'])} | "
                         f"{_number(r['prediction ex/s'])} |")
        test = runs.get("paired_bootstrap")
        if test:
            low, high = test["ci95"]
            verdict = ("a tie" if test["p_value"] >= 0.05 else
                       "toolkit better" if test["difference"] > 0 else "TextBrewer better")
            lines += ["", f"Paired bootstrap over the dev examples (accuracy averaged over seeds): toolkit − "
                          f"TextBrewer {100 * test['difference']:+.2f} points, 95% interval [{100 * low:+.2f}, "
                          f"{100 * high:+.2f}], p = {test['p_value']:.3f}: {verdict}."]
    a = s["augmentation"]
    lines += ["", "## Augmentation", "",
              f"`distill augment` against the reference loop (`reference_augment` in the benchmark), same "
              f"{document['settings']['sentences']} SST-2 sentences, embedding neighbours from the packaged MiniLM, "
              f"top 15, 20 variants, p = 0.4; 1 thread. End to end counts from loading the model to the written "
              f"file (imports excluded); the loop excludes the shared setup (loading the model and building the "
              f"embedding table, the same for both and for any data size).", "",
              "| system | loop words/s | loop examples/s | end-to-end words/s | end-to-end examples/s | setup s |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {k} | {a['loop_words_per_second'][k]:.1f} | {a['loop_examples_per_second'][k]:.1f} | "
              f"{a['words_per_second'][k]:.1f} | {a['examples_per_second'][k]:.1f} | {a['setup_seconds'][k]:.1f} |"
              for k in a["words_per_second"]]
    lines += ["", f"Ratio: {a['ratio_loop']:.1f}x on the loop, {a['ratio_end_to_end']:.1f}x end to end.", "",
              "## TextBrewer configuration", ""]
    lines += [f"- {note}" for note in document["textbrewer_notes"]]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in document["notes"]]
    return "\n".join(lines) + "\n"


def _quick(settings: dict) -> str:
    if not settings["quick_threads"]:
        return ""
    return f" (at {', '.join(map(str, settings['quick_threads']))} threads: {settings['quick_steps']} intermediate steps only)"


def _sentence(text: str) -> str:
    text = text.strip()
    return f"{text}{'' if text.endswith('.') else '.'} " if text else ""


def _number(value, digits: int = 1) -> str:
    return "not run" if value is None else f"{value:.{digits}f}"


NOTES = [
    "The sum-of-parts limit follows the issue: teacher forward alone (one padded `no_grad` forward, what "
    "TextBrewer runs) plus student forward + backward alone. The toolkit's teacher no longer pays for padding, "
    "so it can pass that limit; `own parts` is the limit of its own pieces (live teacher, student forward + "
    "backward, optimizer step), which measures the loop's overhead.",
    "`toolkit + store` reads teacher outputs built once (`teacher_cache`), as every later seed, student size or "
    "epoch does; building it costs one teacher pass over the examples (its time is under the 1-thread tables).",
    "A truncated teacher (computing only up to the last mapped layer) is not implemented: with the uniform map "
    "the last student layer always maps to the teacher's last layer, so it would save nothing here.",
    "ONNX Runtime for the teacher's forward is measured (`teacher_onnxruntime_grouped`, the same length "
    "groups through an export with exactly the needed outputs) but not used by the toolkit yet: it would need an "
    "export of every teacher kept beside the run and a recipe switch, for the gain the `limit` rows bound (the "
    "phase's limit with the ONNX teacher against the one with the live teacher). The teacher-output store "
    "(`toolkit + store`) removes the teacher's forward altogether for every run after the first.",
    "Student forward + backward still runs on the padded batch: splitting it into length groups as well would "
    "change the dropout masks, so results would no longer match the padded run up to float rounding.",
]
