"""``quantize export | int8``: parse, build the config, call :mod:`quantize.api`, say where it went."""

from __future__ import annotations

import argparse
import sys

from eval.console import quiet_third_party_logs, run_command

EPILOG = """examples:
  quantize export --model runs/teacher-mrpc --output-dir runs/teacher-mrpc-onnx
  quantize int8 --model runs/teacher-mrpc --calib mrpc --data-dir ../shared/data/glue_parquet \\
      --max-drop 1.0 --output-dir runs/teacher-mrpc-int8
  quantize int8 --model runs/teacher-sst2 --calib sst2 --backend neural-compressor --output-dir OUT
  quantize int8 --recipe recipes/quantize/static_max.yaml --model M --output-dir OUT --set calib_size=500
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantize", description="ONNX export and INT8 quantization.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="PyTorch classifier -> ONNX FP32 folder, checked against PyTorch")
    export.add_argument("--model", required=True, help="sequence-classifier folder or Hub id")
    export.add_argument("--output-dir", required=True)

    int8 = sub.add_parser("int8", help="INT8 post-training quantization with calibration on a GLUE task",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    int8.add_argument("--recipe", help="YAML with Int8Config fields (recipes/quantize/*.yaml)")
    int8.add_argument("--model", help="PyTorch classifier folder, or an ONNX folder from `quantize export`")
    int8.add_argument("--output-dir")
    int8.add_argument("--calib", help="GLUE task for calibration (default sst2)")
    int8.add_argument("--calib-split", help="split to draw calibration examples from (default train)")
    int8.add_argument("--calib-size", type=int, help="number of calibration examples (default 300)")
    int8.add_argument("--method", help="max (default), percentile or entropy")
    int8.add_argument("--mode", help="static (default) or dynamic (baseline, no calibration)")
    int8.add_argument("--backend", help="onnxruntime (default) or neural-compressor")
    int8.add_argument("--data-dir", help="local GLUE folder (TSV or parquet); default: the Hub")
    int8.add_argument("--max-drop", type=float, help="allowed dev-metric loss in points; "
                      "layers fall back to FP32 until it fits")
    int8.add_argument("--eval-task", help="task the guard scores (default: the calibration task)")
    int8.add_argument("--threads", type=int, help="intra-op threads for evaluation and latency")
    int8.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any Int8Config field, e.g. --set per_channel=false")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_third_party_logs()
    return run_command(lambda: _export(args) if args.command == "export" else _int8(args))


def _export(args) -> int:
    from quantize import api

    record = api.export(args.model, args.output_dir)
    print(f"saved ONNX FP32 model to {args.output_dir} "
          f"(max |logit diff| vs PyTorch: {record['export']['max_abs_logit_diff']:.2e})")
    return 0


def _int8(args) -> int:
    from quantize import api
    from quantize.config import load_int8_config

    flags = {"model": args.model, "output_dir": args.output_dir, "calib": args.calib,
             "calib_split": args.calib_split, "calib_size": args.calib_size, "method": args.method,
             "mode": args.mode, "backend": args.backend, "data_dir": args.data_dir,
             "max_drop": args.max_drop, "eval_task": args.eval_task, "threads": args.threads}
    cfg = load_int8_config(args.recipe, flags=flags, overrides=args.set)
    record = api.int8(cfg)
    dev = record["dev"]
    print(f"saved INT8 model to {cfg.output_dir}: {dev['task']} dev {dev['metric']} "
          f"{100 * dev['fp32']:.2f} -> {100 * dev['int8']:.2f} ({dev['drop_points']:+.2f} points lost), "
          f"{record['size_bytes']['ratio']:.2f}x smaller, {record['latency']['speedup']:.2f}x faster at batch 1")
    if record["excluded_layers"]:
        print(f"kept in FP32 by the accuracy guard: {', '.join(record['excluded_layers'])}")
    if not record["guard"]["fits"]:
        print(f"warning: INT8 still loses {dev['drop_points']:.2f} points (> --max-drop {cfg.max_drop}) "
              f"with every layer in FP32; the model was kept, do not ship it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
