"""Side by side on one fine-tuned model: PyTorch FP32, ONNX FP32, ONNX INT8 static (max) and
dynamic, neural-compressor INT8: dev metric, file size, latency/throughput at batch 1 and 32.

Run (2 threads, sequence 128; writes benchmarks/results/quantize_<task>.json):
    python benchmarks/quantize_int8.py --model runs/teacher-mrpc --task mrpc \
        --data-dir ../shared/data/glue_parquet
    python benchmarks/quantize_int8.py --model runs/teacher-sst2 --task sst2 \
        --data-dir ../shared/data/glue_data

Every artefact is built through the library (``quantize.api``), exactly as the CLI builds it,
then loaded back from its folder the way ``glue eval`` loads it. Latency uses synthetic full
batches (no padding) and reports the median of repeated runs, because the machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from eval.artifacts import provenance, write_json
from eval.predictors import load_predictor, load_tokenizer
from quantize import api
from quantize.config import Int8Config
from quantize.measure import latency_batch, measure_interleaved, score

RESULTS = Path(__file__).resolve().parent / "results"
INC_COMPILED = "inc_int8_static_max_compiled"
BLOCK = 3  # timed calls per model per round, after one untimed call (see measure_interleaved)
TARGETS = {"max_drop_points": 1.0, "goal_drop_points": 0.5, "min_size_ratio": 3.5, "min_speedup_b1": 1.5,
           "goal_speedup_b1": 2.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="fine-tuned PyTorch classifier folder")
    parser.add_argument("--task", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--calib-split", default="train")
    parser.add_argument("--calib-size", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--iters", type=int, default=30, help="timed runs per shape (median reported)")
    parser.add_argument("--work-dir", help="where the artefacts go (default runs/bench-quantize-<task>)")
    parser.add_argument("--skip", default="", help="comma-separated variants to leave out")
    parser.add_argument("--max-drop", type=float,
                        help="also build static max INT8 with the accuracy guard at this budget (points)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep artefacts a previous run built in --work-dir; only re-measure")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile of the INC model")
    return parser.parse_args(argv)


def build(args, work: Path) -> dict[str, Path]:
    """Every artefact, through the library. Returns variant name -> model folder."""
    base = Int8Config(model=args.model, calib=args.task, calib_split=args.calib_split,
                      calib_size=args.calib_size, data_dir=args.data_dir, threads=args.threads)
    folders = {"pytorch_fp32": Path(args.model), "onnx_fp32": work / "onnx-fp32",
               "onnx_int8_static_max": work / "onnx-int8-static-max",
               "onnx_int8_static_max_guard": work / "onnx-int8-static-max-guard",
               "onnx_int8_dynamic": work / "onnx-int8-dynamic", "inc_int8_static_max": work / "inc-int8-static-max"}
    changes = {"onnx_int8_static_max": {}, "onnx_int8_static_max_guard": {"max_drop": args.max_drop},
               "onnx_int8_dynamic": {"mode": "dynamic"}, "inc_int8_static_max": {"backend": "neural-compressor"}}
    skip = set(args.skip.split(",")) | (set() if args.max_drop is not None else {"onnx_int8_static_max_guard"})
    folders = {k: v for k, v in folders.items() if k not in skip}
    if "onnx_fp32" in folders and not _reusable(folders["onnx_fp32"], args):
        timed(f"export -> {folders['onnx_fp32']}", api.export, args.model, folders["onnx_fp32"])
    for name, change in changes.items():
        if name in folders and not _reusable(folders[name], args):
            cfg = dataclasses.replace(base, output_dir=str(folders[name]), **change)
            timed(f"{name} -> {folders[name]}", api.int8, cfg)
    return folders


def _reusable(folder: Path, args) -> bool:
    """With --reuse, a folder a previous run completed (it has quantization.json) is kept."""
    return args.reuse and (folder / "quantization.json").is_file()


def load_variants(folders: dict[str, Path], args) -> dict:
    """Every variant loaded the way ``glue eval`` loads it; the INC model also torch.compile'd."""
    predictors = {name: load_predictor(folder, device="cpu", threads=args.threads) for name, folder in folders.items()}
    if "inc_int8_static_max" in predictors and not args.no_compile:
        predictors[INC_COMPILED] = compiled(folders["inc_int8_static_max"], args.threads)
    return predictors


def compiled(folder: Path, threads: int):
    """The PT2E graph runs Q/DQ in FP32 until inductor lowers it to int8 kernels (freezing on).

    Compiled for fixed shapes: each latency shape compiles once, during the warm-up calls.
    """
    import torch
    import torch._inductor.config as inductor

    inductor.freezing = True
    predictor = load_predictor(folder, device="cpu", threads=threads)
    predictor.module = torch.compile(predictor.module, dynamic=False)
    return predictor


def describe(name: str, predictor, folder: Path, cfg: Int8Config, rows: dict) -> dict:
    """Dev metric (through the GLUE harness) and size of one variant."""
    if name == INC_COMPILED:  # same weights and graph as the eager INC model; compiling per eval shape is too slow
        return {**rows["inc_int8_static_max"], "dev_metric_from": "inc_int8_static_max (eager)", "latency": {}}
    metric = score(predictor, load_tokenizer(folder), cfg)
    print(f"  {name}: dev {100 * metric:.2f}, {predictor.info.size_bytes / 1e6:.1f} MB", flush=True)
    return {"folder": str(folder), "backend": predictor.info.backend, "precision": predictor.info.precision,
            "dev_metric": metric, "size_bytes": predictor.info.size_bytes, "latency": {}}


def time_all(predictors: dict, rows: dict, model: Path, args) -> None:
    """Latency of every variant, round-robin per shape within each runtime (fair on a shared machine).

    Runtimes are timed apart: on 2 cores, PyTorch's OpenMP threads keep spinning after a call
    and slow the ONNX Runtime call that follows (and the other way round), which would penalise
    whichever model runs after a switch.
    """
    runtimes: dict[str, dict] = {}
    for name, predictor in predictors.items():
        runtimes.setdefault("onnxruntime" if predictor.info.backend == "onnxruntime" else "torch", {})[name] = predictor
    for size in args.batch_sizes.split(","):
        batch = latency_batch(model, int(size), args.seq_len)
        rounds = max(2, (args.iters if int(size) == 1 else args.iters // 3) // BLOCK)
        for runtime, group in runtimes.items():
            start = time.perf_counter()
            results = measure_interleaved({n: p.logits for n, p in group.items()}, batch, rounds=rounds, block=BLOCK)
            for name, result in results.items():
                rows[name]["latency"][f"b{size}"] = result
            print(f"  timed {runtime} batch {size} in {time.perf_counter() - start:.0f} s: "
                  + ", ".join(f"{n} {r['median_ms']:.1f} ms" for n, r in results.items()), flush=True)


def ratios(rows: dict) -> dict:
    """Size, speed and metric of every variant relative to ONNX FP32 (and PyTorch FP32 for the metric)."""
    ref = rows.get("onnx_fp32")
    torch_metric = rows.get("pytorch_fp32", ref or {}).get("dev_metric")
    out = {}
    for name, row in rows.items():
        entry = {"drop_points_vs_pytorch_fp32": None if torch_metric is None else 100 * (torch_metric - row["dev_metric"])}
        if ref:
            entry["drop_points_vs_onnx_fp32"] = 100 * (ref["dev_metric"] - row["dev_metric"])
            entry["size_ratio_vs_onnx_fp32"] = ref["size_bytes"] / row["size_bytes"]
            for key, lat in row["latency"].items():
                entry[f"speedup_{key}_vs_onnx_fp32"] = ref["latency"][key]["median_ms"] / lat["median_ms"]
        out[name] = entry
    return out


def verdict(rat: dict) -> dict:
    """Issue 4's targets for static max INT8, without and with the accuracy guard."""
    out = {}
    for name in ("onnx_int8_static_max", "onnx_int8_static_max_guard"):
        r = rat.get(name, {})
        if "size_ratio_vs_onnx_fp32" not in r or "speedup_b1_vs_onnx_fp32" not in r:
            continue
        drop, size, speed = r["drop_points_vs_onnx_fp32"], r["size_ratio_vs_onnx_fp32"], r["speedup_b1_vs_onnx_fp32"]
        out[name] = {"drop_ok": drop <= TARGETS["max_drop_points"], "drop_goal": drop <= TARGETS["goal_drop_points"],
                     "size_ok": size >= TARGETS["min_size_ratio"], "speed_b1_ok": speed >= TARGETS["min_speedup_b1"],
                     "speed_b1_goal": speed >= TARGETS["goal_speedup_b1"]}
    return out


def table(rows: dict, rat: dict) -> str:
    keys = list(next(iter(rows.values()))["latency"])
    head = ["variant", "dev", "drop pts", "size MB", "size x"] + [f"{k} ms" for k in keys] + \
           [f"{k} ex/s" for k in keys] + [f"{k} speedup" for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        r = rat[name]
        cells = [name, f"{100 * row['dev_metric']:.2f}", _fmt(r.get("drop_points_vs_onnx_fp32")),
                 f"{row['size_bytes'] / 1e6:.1f}", _fmt(r.get("size_ratio_vs_onnx_fp32"))]
        cells += [f"{row['latency'][k]['median_ms']:.1f}" for k in keys]
        cells += [f"{row['latency'][k]['examples_per_second']:.1f}" for k in keys]
        cells += [_fmt(r.get(f"speedup_{k}_vs_onnx_fp32")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "" if value is None else f"{value:.2f}"


def timed(label: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    print(f"built {label} in {time.perf_counter() - start:.0f} s", flush=True)
    return result


def main(argv=None) -> int:
    import torch

    from eval.console import quiet_third_party_logs

    args = parse_args(argv)
    quiet_third_party_logs()
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir or f"runs/bench-quantize-{args.task}")
    started = time.time()
    folders = build(args, work)
    cfg = Int8Config(calib=args.task, data_dir=args.data_dir, threads=args.threads)
    print("measuring", flush=True)
    predictors = load_variants(folders, args)
    rows: dict = {}
    for name, predictor in predictors.items():
        rows[name] = describe(name, predictor, folders.get(name, folders.get("inc_int8_static_max")), cfg, rows)
    time_all(predictors, rows, Path(args.model), args)
    rat = ratios(rows)
    quantization = {name: json.loads((f / "quantization.json").read_text()) for name, f in folders.items()
                    if (f / "quantization.json").is_file()}
    result = {
        "benchmark": "quantize_int8", "task": args.task, "model": args.model, "data_dir": args.data_dir,
        "settings": {"threads": args.threads, "seq_len": args.seq_len, "batch_sizes": args.batch_sizes,
                     "iters": args.iters, "calib_split": args.calib_split, "calib_size": args.calib_size},
        "machine_shared": True,
        "note": ("2-core machine shared with other jobs while measuring: latencies are medians of runs "
                 "timed round-robin across the variants of one runtime (ONNX Runtime, then PyTorch), so a "
                 "neighbour's load hits every variant of a runtime alike; cross-runtime ratios are less "
                 "certain than ONNX-vs-ONNX ones"),
        "variants": rows, "ratios": rat, "targets": TARGETS, "verdict": verdict(rat),
        "quantization": {k: {f: v.get(f) for f in ("method", "mode", "excluded_layers", "onnxruntime",
                                                   "neural_compressor", "calibration", "dev", "guard")}
                         for k, v in quantization.items()},
        "wall_seconds": time.time() - started, **provenance(),
    }
    out = write_json(RESULTS / f"quantize_{args.task}.json", result)
    print(table(rows, rat))
    print(f"verdict: {result['verdict']}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
