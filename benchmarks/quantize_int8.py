"""Every INT8 variant side by side on one fine-tuned classifier: dev metric, size, latency.

Run (writes benchmarks/results/quantize_<task>_<label>_<cpu>.json, <cpu> = vnni or avx2, the INT8
feature set of the machine; docs from benchmarks/quantize_docs.py):
    python benchmarks/quantize_int8.py --model runs/glue/teacher-sst2 --task sst2 --label teacher \\
        --data-dir ../shared/data/glue_data
    python benchmarks/quantize_int8.py --model runs/glue/teacher-mrpc --task mrpc --label teacher \\
        --data-dir ../shared/data/glue_parquet
    python benchmarks/quantize_int8.py --model runs/tiny-sst2 --task sst2 --label tiny ...   # a student

Every INT8 folder is built through ``quantize.api`` exactly as ``quantize int8`` builds it, then
loaded back the way ``glue eval`` loads it. Latency: synthetic full batches, every variant of a
runtime timed round-robin (``quantize.measure.measure_interleaved``) so a neighbour's load hits
them alike; the median wall time, and at one thread also the median CPU time of the calling
thread, which time spent preempted does not inflate. Speeds are CPU-specific: the JSON records
the CPU's SIMD features (VNNI or not).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eval.core.artifacts import provenance, write_json
from eval.predictors import SLOW_ORT_FUSIONS, has_vnni, load_predictor, load_tokenizer
from quantize import api
from quantize.config import int8_config_from_dict
from quantize.measure import latency_batch, measure_interleaved, score

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"speedup_b1_vs_onnx_fp32": 2.5, "max_drop_points": 0.5}

# name -> (source folder key, changes to the default onnxruntime config); built in this order.
ORT_VARIANTS = {
    "onnx_int8_dynamic": ("onnx_fp32", {"mode": "dynamic"}),
    "onnx_int8_static_max": ("onnx_fp32", {}),
    "onnx_int8_static_max_attention": ("onnx_fp32", {"attention_matmuls": True}),
    "onnx_int8_static_max_smooth": ("onnx_fp32", {"smooth_quant": 0.5}),
    "onnx_int8_static_max_guard": ("onnx_fp32", {"max_drop": 0.5}),
    "onnx_int8_static_percentile": ("onnx_fp32", {"method": "percentile"}),
    "onnx_int8_static_entropy": ("onnx_fp32", {"method": "entropy"}),
    "onnx_int8_static_max_qoperator": ("onnx_fp32", {"quant_format": "qoperator"}),
    "onnx_int8_static_max_matmul_output": ("onnx_fp32", {"matmul_output": True}),
    "onnx_int8_static_max_full_range": ("onnx_fp32", {"reduce_range": "off"}),
    "onnx_int8_static_max_legacy_export": ("onnx_fp32_legacy", {}),
}
INC = "inc_int8_static_max"
COMPILED = {"pytorch_fp32_compiled": "pytorch_fp32", "inc_int8_static_max_compiled": INC}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="fine-tuned PyTorch classifier folder (teacher or student)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--label", required=True, help="what the model is, for the file name: teacher, tiny, ...")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--calib-size", type=int, default=300)
    parser.add_argument("--max-seq-length", type=int, default=128, help="tokenization length for dev and calibration")
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts to time")
    parser.add_argument("--shapes", default="1x32,1x128,32x128", help="batch x sequence shapes to time")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds at batch 1 (3 calls each)")
    parser.add_argument("--work-dir", help="where the folders go (default runs/bench-quantize-<task>-<label>)")
    parser.add_argument("--skip", default="", help="comma-separated variants to leave out")
    parser.add_argument("--reuse", action="store_true", help="keep folders a previous run completed")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--note", default="wall-clock medians of round-robin timing; at one thread cpu_median_ms (CPU "
                        "time of the calling thread) is the steadier figure on a shared machine",
                        help="what else ran on the machine, for the record")
    return parser.parse_args(argv)


def build(args, work: Path) -> dict[str, Path]:
    """Every folder, through the library. Returns variant name -> model folder."""
    skip = set(filter(None, args.skip.split(",")))
    folders = {"pytorch_fp32": Path(args.model)}
    for name, exporter in (("onnx_fp32", "dynamo"), ("onnx_fp32_legacy", "legacy")):
        folders[name] = work / name
        if name not in skip and not _done(folders[name], args):
            timed(name, api.export, args.model, folders[name], exporter)
    base = {"calib": args.task, "calib_size": args.calib_size, "data_dir": args.data_dir,
            "max_seq_length": args.max_seq_length, "threads": 2}
    builds = {name: (folders[source], changes) for name, (source, changes) in ORT_VARIANTS.items()}
    builds[INC] = (Path(args.model), {"backend": "neural-compressor"})
    for name, (source, changes) in builds.items():
        if name in skip:
            continue
        folders[name] = work / name
        if not _done(folders[name], args):
            cfg = int8_config_from_dict({**base, **changes, "model": str(source), "output_dir": str(folders[name])})
            timed(name, api.int8, cfg)
    return {k: v for k, v in folders.items() if k not in skip and (v / "config.json").is_file()}


def _done(folder: Path, args) -> bool:
    return args.reuse and (folder / "quantization.json").is_file()


def describe(folders: dict[str, Path], args) -> dict[str, dict]:
    """Dev metric (through the GLUE harness), size and build record of every variant."""
    cfg = int8_config_from_dict({"calib": args.task, "data_dir": args.data_dir, "max_seq_length": args.max_seq_length,
                                 "threads": 2})
    rows = {}
    for name, folder in folders.items():
        predictor = load_predictor(folder, device="cpu", threads=2)
        metric = score(predictor, load_tokenizer(folder), cfg)
        record = json.loads((folder / "quantization.json").read_text()) if (folder / "quantization.json").is_file() else {}
        rows[name] = {"folder": str(folder), "backend": predictor.info.backend, "precision": predictor.info.precision,
                      "dev_metric": metric, "size_bytes": predictor.info.size_bytes, "latency": {},
                      "build": {k: record.get(k) for k in ("method", "mode", "onnxruntime", "neural_compressor",
                                                           "export", "excluded_nodes", "guard", "quantized_nodes",
                                                           "quantizable_nodes", "calibration") if k in record}}
        print(f"  {name}: dev {100 * metric:.2f}, {predictor.info.size_bytes / 1e6:.1f} MB", flush=True)
    return rows


def time_all(folders: dict[str, Path], rows: dict, args) -> None:
    """Latency per thread count and shape; each runtime's variants timed round-robin, runtimes apart.

    Runtimes are timed apart: PyTorch's OpenMP threads keep spinning after a call and slow the
    ONNX Runtime call that follows (and the other way round).
    """
    import torch

    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        groups: dict[str, dict] = {"onnxruntime": {}, "torch": {}}
        for name, folder in folders.items():
            predictor = load_predictor(folder, device="cpu", threads=threads)
            groups["onnxruntime" if predictor.info.backend == "onnxruntime" else "torch"][name] = predictor
        if not args.no_compile:
            for name, source in COMPILED.items():
                if source in groups["torch"]:
                    groups["torch"][name] = compiled(folders[source], threads)
                    rows.setdefault(name, {**rows[source], "latency": {}, "compiled": True})
        for shape in args.shapes.split(","):
            size, seq = (int(v) for v in shape.split("x"))
            batch = latency_batch(Path(args.model), size, seq)
            rounds = args.rounds if size == 1 else max(2, args.rounds // 4)
            for runtime, group in groups.items():
                if not group:
                    continue
                start = time.perf_counter()
                results = measure_interleaved({n: p.logits for n, p in group.items()}, batch, rounds=rounds, block=3)
                for name, result in results.items():
                    rows[name]["latency"][f"t{threads}_b{size}x{seq}"] = result
                print(f"  {threads} thread(s), {runtime}, {shape} in {time.perf_counter() - start:.0f} s: "
                      + ", ".join(f"{n} {r['median_ms']:.1f} ms" for n, r in results.items()), flush=True)


def compiled(folder: Path, threads: int):
    """``torch.compile`` (inductor, freezing) of a PyTorch or neural-compressor folder.

    Inductor lowers the INT8 model's quantize/dequantize + linear patterns to int8 kernels;
    fixed shapes, so each timed shape compiles once during warm-up.
    """
    import torch
    import torch._inductor.config as inductor

    inductor.freezing = True
    predictor = load_predictor(folder, device="cpu", threads=threads)
    if hasattr(predictor, "module"):
        predictor.module = torch.compile(predictor.module, dynamic=False)
    else:
        predictor.model = torch.compile(predictor.model, dynamic=False)
    return predictor


def graph_levels(folder: Path, args) -> dict:
    """Session start-up and batch-1 latency of one INT8 graph under each ORT optimization level,
    and loaded from the graph ORT saved after optimizing it (level extended: portable across CPUs)."""
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    saved = folder.parent / f"{folder.name}-optimized.onnx"
    sessions, startup = {}, {}
    for name, level in [*levels.items(), ("saved", None)]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        if name == "saved":
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        else:
            options.graph_optimization_level = level
            if name == "extended":
                options.optimized_model_filepath = str(saved)
        start = time.perf_counter()
        session = ort.InferenceSession(str(saved if name == "saved" else folder / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"], disabled_optimizers=list(SLOW_ORT_FUSIONS))
        startup[name] = 1000 * (time.perf_counter() - start)
        feeds = {i.name for i in session.get_inputs()}
        sessions[name] = (lambda s, f: lambda b: s.run(None, {k: v for k, v in b.items() if k in f}))(session, feeds)
    out = {}
    for shape in ("1x32", "1x128"):
        size, seq = (int(v) for v in shape.split("x"))
        timing = measure_interleaved(sessions, latency_batch(Path(args.model), size, seq), rounds=args.rounds, block=3)
        out[shape] = {name: {"median_ms": t["median_ms"], "cpu_median_ms": t["cpu_median_ms"]} for name, t in timing.items()}
    return {"model": str(folder), "threads": 1, "session_start_ms": startup, "latency": out}


def _session(path: Path, disabled: tuple[str, ...] = SLOW_ORT_FUSIONS, profile: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if profile:
        options.enable_profiling, options.profile_file_prefix = True, profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled))


def op_profile(folders: dict[str, Path], args, names=("onnx_fp32", "onnx_int8_dynamic", "onnx_int8_static_max",
                                                       "onnx_int8_static_max_attention"), runs: int = 20) -> dict:
    """ONNX Runtime's per-op profile, one thread, batch 1x128: per op type, ms per run and count.

    Profiling adds a little time to every op, so the totals sit above the timed latency; the
    shares are what to read. Also the op counts of the graph ONNX Runtime actually runs.
    """
    out = {}
    batch = latency_batch(Path(args.model), 1, 128)
    for name in (n for n in names if n in folders):
        session = _session(folders[name] / "model.onnx", profile=str(folders[name].parent / f"profile-{name}"))
        feeds = {i.name for i in session.get_inputs()}
        for _ in range(runs):
            session.run(None, {k: v for k, v in batch.items() if k in feeds})
        events = json.loads(Path(session.end_profiling()).read_text())
        per_op: dict[str, dict] = {}
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                entry = per_op.setdefault(event["args"]["op_name"], {"ms": 0.0, "count": 0})
                entry["ms"] += event["dur"] / 1000 / runs
                entry["count"] += 1
        for entry in per_op.values():
            entry["count"] //= runs
        out[name] = dict(sorted(per_op.items(), key=lambda kv: -kv[1]["ms"]))
    return out


def fusion_effect(folders: dict[str, Path], args) -> dict:
    """Latency with and without the fusions the harness turns off (SLOW_ORT_FUSIONS), one thread."""
    out = {}
    for shape in ("1x128", "32x128"):
        size, seq = (int(v) for v in shape.split("x"))
        batch = latency_batch(Path(args.model), size, seq)
        sessions = {}
        for name in (n for n in ("onnx_fp32", "onnx_int8_dynamic", "onnx_int8_static_max") if n in folders):
            for label, disabled in (("default", ()), ("harness", SLOW_ORT_FUSIONS)):
                session = _session(folders[name] / "model.onnx", disabled)
                feeds = {i.name for i in session.get_inputs()}
                sessions[f"{name}:{label}"] = (lambda s, f: lambda b: s.run(None, {k: v for k, v in b.items()
                                                                                  if k in f}))(session, feeds)
        rounds = args.rounds if size == 1 else max(2, args.rounds // 4)
        timing = measure_interleaved(sessions, batch, rounds=rounds, block=3)
        out[shape] = {name: {"cpu_median_ms": t["cpu_median_ms"], "median_ms": t["median_ms"]}
                      for name, t in timing.items()}
    return {"disabled": list(SLOW_ORT_FUSIONS), "threads": 1, "latency": out}


def ratios(rows: dict) -> dict:
    """Size, speed and metric of every variant relative to ONNX FP32 (and PyTorch FP32 for the compiled ones)."""
    ref = rows["onnx_fp32"]
    out = {}
    for name, row in rows.items():
        base = rows["pytorch_fp32"] if name == "pytorch_fp32_compiled" else ref
        entry = {"drop_points_vs_onnx_fp32": 100 * (ref["dev_metric"] - row["dev_metric"]),
                 "size_ratio_vs_onnx_fp32": ref["size_bytes"] / row["size_bytes"]}
        for key, lat in row["latency"].items():
            if key in base["latency"]:
                entry[f"speedup_{key}"] = base["latency"][key]["median_ms"] / lat["median_ms"]
                if key.startswith("t1_"):
                    entry[f"cpu_speedup_{key}"] = base["latency"][key]["cpu_median_ms"] / lat["cpu_median_ms"]
        out[name] = entry
    return out


def verdict(rows: dict, rat: dict) -> dict:
    """Issues 13 and 27: static max >= 2.5x ONNX FP32 at batch 1, one thread, and >= dynamic at every
    timed shape and thread count (CPU time at one thread, wall time above); <= 0.5 point lost with
    every MatMul of a constant weight INT8 (max, and max + SmoothQuant)."""
    out = {}
    dynamic = rat.get("onnx_int8_dynamic", {})
    for name in ("onnx_int8_static_max", "onnx_int8_static_max_smooth"):
        if name not in rat:
            continue
        r, checks = rat[name], {}
        for key in (k for k in r if k.startswith("speedup_t1_b1x")):
            checks[f"{key} >= {TARGETS['speedup_b1_vs_onnx_fp32']}"] = r[key] >= TARGETS["speedup_b1_vs_onnx_fp32"]
        for key in (k for k in r if k.startswith("speedup_t") and k in dynamic):
            timed_by = f"cpu_{key}" if key.startswith("speedup_t1_") else key
            checks[f"{timed_by} >= dynamic"] = r[timed_by] >= dynamic[timed_by]
        build = rows[name]["build"]
        checks["every MatMul INT8"] = not build.get("excluded_nodes") and build.get("quantized_nodes") == build.get(
            "quantizable_nodes")
        checks[f"drop <= {TARGETS['max_drop_points']}"] = r["drop_points_vs_onnx_fp32"] <= TARGETS["max_drop_points"]
        out[name] = checks
    return out


def cpu_family() -> str:
    """``vnni`` (u8 x s8 dot products in one instruction: AVX-512 VNNI, AVX-VNNI or AMX) or ``avx2``."""
    return "vnni" if has_vnni() else "avx2"


def timed(label: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    print(f"built {label} in {time.perf_counter() - start:.0f} s", flush=True)
    return result


def main(argv=None) -> int:
    from eval.core.console import quiet_third_party_logs

    args = parse_args(argv)
    quiet_third_party_logs()
    work = Path(args.work_dir or f"runs/bench-quantize-{args.task}-{args.label}")
    started = time.time()
    folders = build(args, work)
    print("scoring", flush=True)
    rows = describe(folders, args)
    print("timing", flush=True)
    time_all(folders, rows, args)
    levels = graph_levels(folders["onnx_int8_static_max"], args) if "onnx_int8_static_max" in folders else None
    print("profiling", flush=True)
    profile, fusions = op_profile(folders, args), fusion_effect(folders, args)
    rat = ratios(rows)
    result = {
        "benchmark": "quantize_int8", "task": args.task, "label": args.label, "model": args.model,
        "data_dir": args.data_dir,
        "command": "python benchmarks/quantize_int8.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {k: getattr(args, k) for k in ("calib_size", "max_seq_length", "threads", "shapes", "rounds")},
        "note": args.note,
        "variants": rows, "ratios": rat, "graph_optimization_levels": levels, "op_profile_1x128": profile,
        "ort_fusions": fusions, "cpu_family": cpu_family(), "targets": TARGETS,
        "verdict": verdict(rows, rat), "wall_seconds": time.time() - started, **provenance(),
    }
    out = write_json(RESULTS / f"quantize_{args.task}_{args.label}_{cpu_family()}.json", result)
    print(f"verdict: {json.dumps(result['verdict'], indent=1)}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
