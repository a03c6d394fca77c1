"""``segmamba models``: list every registered network and variant with its parameter count."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = """List every registered model and ablation variant with its parameter count for the given input
and output channels (patch size 128^3, which only UNETR's count depends on). Counts use the configured
(paper) widths; narrow overrides from a config change them."""


def register(subparsers) -> None:
    """Register the ``models`` subcommand on the top-level parser's subparsers."""
    parser = subparsers.add_parser(
        "models",
        help="list the registered models with their parameter counts",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--in-channels", type=int, default=4, help="input channels (default: 4)")
    parser.add_argument("--out-channels", type=int, default=4, help="output classes incl. background (default: 4)")
    parser.add_argument(
        "--patch-size", type=int, default=128, help="cubic patch size, used for UNETR's img_size (default: 128)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of {name, params, ...} objects")
    parser.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    """Print the model table (or JSON list) and return 0."""
    from segmamba.models.registry import (
        get_spec,
        list_models,
        min_input_multiple,
        min_input_size,
        model_parameter_count,
    )

    rows = [
        {
            "name": name,
            "params": model_parameter_count(name, args.in_channels, args.out_channels, args.patch_size),
            "min_input_multiple": min_input_multiple(name),
            "min_input_size": min_input_size(name),
            "description": get_spec(name).description,
        }
        for name in list_models()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows)
    print(f"{'model':<{width}} {'params':>13}  {'multiple':>8}  {'min':>4}  description")
    for row in rows:
        print(
            f"{row['name']:<{width}} {row['params']:>13,}  {row['min_input_multiple']:>8}  {row['min_input_size']:>4}  "
            f"{row['description']}"
        )
    return 0
