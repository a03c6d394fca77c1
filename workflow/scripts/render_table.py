"""Snakemake adapter: write one paper table (CSV, Markdown, LaTeX) with segmamba.reporting.build."""

import sys

from segmamba.reporting import build

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (the snakemake object is injected by Snakemake)
params = snakemake.params  # noqa: F821
prefix = snakemake.output.csv.removesuffix(".csv")  # noqa: F821

if params.table == "table2":
    build.make_table2(params.layout, params.synthetic, prefix, params.outcome_files)
elif params.table == "table3":
    build.make_table3(params.layout, params.synthetic, prefix, params.outcome_files)
elif params.table == "table4":
    build.make_table4(params.layout, params.dataset, params.synthetic, prefix, params.outcome_files)
elif params.table == "table5":
    build.make_table5(list(snakemake.input), params.reduced_scale, prefix)  # noqa: F821
else:
    raise ValueError(f"unknown table {params.table!r}")
