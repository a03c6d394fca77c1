"""Command-line subcommand of the efficiency step: ``segmamba efficiency``."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Measure a model's efficiency at patch size S x S x S on the current device and write a JSON record:

  TM  peak training memory of training steps at batch 2 (SGD + Nesterov, cross-entropy; AMP fp16 on CUDA)
  IM  peak inference memory of one forward pass on one patch (batch 1, no gradients)
  IT  inference throughput in cases/s of MONAI sliding-window inference (roi = patch, overlap 0.5,
      Gaussian) over one volume of --volume-size (default: one patch, S x S x S)

Memory is torch.cuda.max_memory_allocated on CUDA (with torch.cuda.max_memory_reserved beside it, as
training_memory_reserved / inference_memory_reserved) and the peak resident set size on CPU, in MB (2**20
bytes). Each measurement runs in a fresh process; running out of memory is recorded as "OOM" for that
quantity instead of failing. The JSON holds the median and the raw values of each quantity, the parameter
count, the device name, the torch/CUDA versions, the selective-scan backend that ran (scan_backend; null
for a model without a Mamba layer), the stage-1 sequence length ceil(S/2)^3 and the --variant label.
"""


def register(subparsers) -> None:
    """Register ``segmamba efficiency`` on the top-level parser's subparsers (settings from EfficiencySettings)."""
    from segmamba.efficiency.settings import EfficiencySettings
    from segmamba.settings import add_settings_arguments

    parser = subparsers.add_parser(
        "efficiency",
        help="measure training/inference memory and inference throughput of a model",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model name (see `segmamba models`)")
    parser.add_argument("--size", required=True, type=int, help="patch edge length S (patch S x S x S)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--in-channels", type=int, default=4, help="input channels (default 4, BraTS)")
    parser.add_argument("--out-channels", type=int, default=4, help="output classes incl. background (default 4)")
    parser.add_argument("--model-overrides", default="{}", help="JSON object of model constructor keywords")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument(
        "--volume-size", type=int, nargs="+", metavar="V", help="throughput volume: V or X Y Z (default: S S S)"
    )
    parser.add_argument(
        "--memory-limit-mb", type=float, help="CPU only: cap each measuring process at its set-up size plus this"
    )
    parser.add_argument(
        "--variant", help='label of a measured variant of the model, e.g. "fused attention" (recorded as is)'
    )
    add_settings_arguments(parser, EfficiencySettings)
    parser.set_defaults(func=handle_efficiency)


def parse_arguments(args) -> dict:
    """Validate the command-line values; returns keyword arguments of ``measure_efficiency``."""
    import json

    from segmamba.efficiency.settings import EfficiencySettings
    from segmamba.errors import ConfigError
    from segmamba.settings import settings_values

    settings = EfficiencySettings(**settings_values(args, EfficiencySettings))
    try:
        overrides = json.loads(args.model_overrides)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model-overrides is not valid JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise ConfigError("--model-overrides must be a JSON object")
    volume = args.volume_size or [args.size]
    if len(volume) not in (1, 3) or min(volume) < 1:
        raise ConfigError(f"--volume-size needs one or three positive sizes, got {volume}")
    if args.size < 1:
        raise ConfigError("--size must be positive")
    return {
        "model": args.model,
        "size": args.size,
        "in_channels": args.in_channels,
        "out_channels": args.out_channels,
        "overrides": overrides,
        "repeats": settings.repeats,
        "volume_size": tuple(volume * 3 if len(volume) == 1 else volume),
        "sw_batch_size": settings.sw_batch_size,
        "memory_limit_mb": args.memory_limit_mb,
        "variant": args.variant or None,
    }


def handle_efficiency(args) -> int:
    """Measure and write the JSON record; prints the three medians."""
    from segmamba.efficiency.runner import measure_efficiency
    from segmamba.errors import ConfigError
    from segmamba.io_utils import write_json_atomic
    from segmamba.job_timing import work
    from segmamba.runtime import select_device

    options = parse_arguments(args)
    try:
        device = select_device(args.device)
    except RuntimeError as exc:
        raise ConfigError(f"--device {args.device}: {exc}") from exc
    if device.type == "cuda" and args.memory_limit_mb is not None:
        raise ConfigError("--memory-limit-mb only applies to CPU measurements")
    with work():
        record = measure_efficiency(device=device, **options)
    write_json_atomic(args.out, record)
    for quantity in ("training_memory", "inference_memory", "inference_throughput"):
        print(f"{quantity}: {record[quantity]['median']} {record[quantity]['unit']}")
    for quantity in ("training_memory_reserved", "inference_memory_reserved"):
        if record[quantity] is not None:
            print(f"{quantity}: {record[quantity]['median']} {record[quantity]['unit']}")
    print(f"scan backend: {record['scan_backend'] or 'none (no Mamba scan)'}")
    print(f"wrote {args.out}")
    return 0
