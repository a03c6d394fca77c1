"""Snakemake adapter: draw one paper figure with segmamba.reporting.build."""

import sys

from segmamba.reporting import build

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (the snakemake object is injected by Snakemake)
params = snakemake.params  # noqa: F821
inputs = snakemake.input  # noqa: F821
out = snakemake.output.figure  # noqa: F821

if params.figure == "fig4":
    build.make_figure4(
        params.dataset,
        params.layout,
        inputs.root,
        inputs.split,
        inputs.gt,
        dict(zip(params.models, inputs.predictions, strict=True)),
        out,
    )
elif params.figure == "training_curves":
    build.make_training_curves(dict(zip(params.models, inputs.logs, strict=True)), params.dataset, out)
elif params.figure == "efficiency":
    build.make_efficiency_chart(list(inputs.results), out)
else:
    raise ValueError(f"unknown figure {params.figure!r}")
