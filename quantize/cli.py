"""``quantize export | int8``: parse, build the config, call :mod:`quantize.api`, say where it went."""

from __future__ import annotations

import argparse
import sys

from eval.core.console import add_version, quiet_third_party_logs, run_command, warn
from eval.core.errors import UserError

EPILOG = """examples:
  quantize export --model runs/teacher-mrpc --output-dir runs/teacher-mrpc-onnx
  quantize int8 --model runs/teacher-mrpc --data-dir ../shared/data/glue_parquet \\
      --max-drop 1.0 --output-dir runs/teacher-mrpc-int8    # calibrates on mrpc, the model's task
  quantize int8 --model runs/teacher-sst2 --calib sst2 --smooth-quant 0.5 --output-dir OUT
  quantize int8 --model runs/teacher-sst2 --calib sst2 --backend neural-compressor --output-dir OUT
  quantize int8 --recipe recipes/quantize/static_max.yaml --model M --output-dir OUT --set calib_size=500
"""


LICENSE_HELP = ("the model card's license, a Hub license id (apache-2.0, mit, ...); default: the FP32 model's, "
                "else other")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as the toolkit's one-line error instead of exiting."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quantize", description="ONNX export and INT8 quantization.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    export = sub.add_parser("export", help="PyTorch classifier -> ONNX FP32 folder, checked against PyTorch")
    export.add_argument("--model", required=True, help="sequence-classifier folder or Hub id")
    export.add_argument("--output-dir", required=True)
    export.add_argument("--exporter", default="dynamo", help="dynamo (torch.export, default) or legacy (TorchScript)")
    export.add_argument("--license", help=LICENSE_HELP)

    int8 = sub.add_parser("int8", help="INT8 post-training quantization, calibrated on the model's task",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    int8.add_argument("--recipe", help="YAML with every field of a backend's config (recipes/quantize/*.yaml)")
    int8.add_argument("--model", help="PyTorch classifier folder, or an ONNX folder from `quantize export`")
    int8.add_argument("--output-dir")
    int8.add_argument("--backend", help="onnxruntime (default: the fast one) or neural-compressor (stays in PyTorch; "
                      "smaller, but slower than FP32 when run eagerly: a size-only path, see docs/quantization.md)")
    int8.add_argument("--calib", help="task for calibration and dev scoring: a GLUE name or a task spec "
                      "(default: the task the model was trained on, as its folder records it)")
    int8.add_argument("--calib-split", help="split to draw calibration examples from (default train)")
    int8.add_argument("--calib-size", type=int, help="number of calibration examples (default 300)")
    int8.add_argument("--method", help="max (default), percentile or entropy (neural-compressor: max, entropy)")
    int8.add_argument("--mode", help="onnxruntime: static (default) or dynamic (baseline, no calibration)")
    int8.add_argument("--reduce-range", help="onnxruntime: auto (default: on unless the CPU has VNNI), on, off")
    int8.add_argument("--smooth-quant", type=float, metavar="ALPHA",
                      help="onnxruntime: SmoothQuant outlier migration with this strength (e.g. 0.5)")
    int8.add_argument("--exporter", help="onnxruntime, PyTorch input: dynamo (default) or legacy")
    int8.add_argument("--data-dir", help="local GLUE folder (TSV or parquet); default: the Hub")
    int8.add_argument("--max-drop", type=float, help="allowed dev-metric loss in points; "
                      "layers fall back to FP32 until it fits")
    int8.add_argument("--allow-fallback", action="store_true", default=None,
                      help="keep a result the guard left mostly FP32 or under 1.5x smaller (else an error)")
    int8.add_argument("--eval-task", help="task the guard scores (default: the calibration task)")
    int8.add_argument("--threads", type=int, help="intra-op threads for evaluation and latency (>= 1)")
    int8.add_argument("--batch-size", type=int, help="dev evaluation batch size (default 32)")
    int8.add_argument("--max-seq-length", type=int, help="tokenization length, 8-512 (default 128)")
    int8.add_argument("--license", help=LICENSE_HELP)
    int8.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any field of the backend's config, e.g. --set per_channel=false")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: _dispatch(argv))


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    quiet_third_party_logs()  # after parsing: it imports transformers, which --help never needs
    return _export(args) if args.command == "export" else _int8(args)


def _export(args) -> int:
    from quantize import api

    record = api.export(args.model, args.output_dir, exporter=args.exporter, license=args.license)
    print(f"saved ONNX FP32 model to {args.output_dir} ({record['export']['exporter']} exporter, "
          f"max |logit diff| vs PyTorch: {record['export']['max_abs_logit_diff']:.2e})")
    return 0


FLAGS = ("model", "output_dir", "backend", "calib", "calib_split", "calib_size", "method", "mode", "reduce_range",
         "smooth_quant", "exporter", "data_dir", "max_drop", "eval_task", "threads", "batch_size", "max_seq_length",
         "license", "allow_fallback")


def _int8(args) -> int:
    from quantize import api
    from quantize.config import load_int8_config
    from quantize.driver import fallback_dominated, size_text

    cfg = load_int8_config(args.recipe, flags={name: getattr(args, name) for name in FLAGS}, overrides=args.set)
    record = api.int8(cfg)
    print(summary(record, cfg.output_dir))
    total, fp32 = record["quantizable_nodes"], record["quantizable_nodes"] - record["quantized_nodes"]
    print(f"{record['quantized_nodes']} of {total} quantizable nodes run in INT8, {fp32} in FP32")
    if record["excluded_layers"]:
        print(f"the accuracy guard kept {fp32} of {total} quantizable nodes in FP32: "
              f"{', '.join(record['excluded_layers'])}")
        if fallback_dominated(record):  # kept only because --allow-fallback asked
            warn(f"this is hardly an INT8 model ({fp32} of {total} quantizable nodes FP32, "
                 f"{size_text(record)} smaller), as --allow-fallback allows")
    if cfg.max_drop is not None and not record["guard"]["fits"]:
        print(f"warning: INT8 still loses {record['dev']['drop_points']:.2f} points (> --max-drop {cfg.max_drop}) "
              f"with every layer in FP32; the model was kept, do not ship it", file=sys.stderr)
        return 1
    return 0


def summary(record: dict, output_dir: str) -> str:
    """The line ``quantize int8`` prints: dev metric FP32 -> INT8 (points lost or gained), size, speed."""
    dev = record["dev"]
    drop = dev["drop_points"]
    change = f"{drop:.2f} points lost" if drop >= 0 else f"{-drop:.2f} points gained"
    return (f"saved INT8 model to {output_dir}: {dev['task']} dev {dev['metric']} {100 * dev['fp32']:.2f} -> "
            f"{100 * dev['int8']:.2f} ({change}), {record['size_bytes']['ratio'] or 0:.2f}x smaller, "
            f"{record['latency']['speedup']:.2f}x faster at batch 1")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
