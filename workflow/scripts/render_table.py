"""Snakemake adapter: write one table (CSV, Markdown, LaTeX) with segmamba.reporting.build."""

import sys

from segmamba.reporting import build

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (the snakemake object is injected by Snakemake)
params = snakemake.params  # noqa: F821
prefix = snakemake.output.csv.removesuffix(".csv")  # noqa: F821

if params.table in ("table2", "table3"):
    build.make_paper_table(params.table, params.layout, params.synthetic, prefix, params.outcome_files)
elif params.table == "dataset":
    build.make_dataset_table(
        params.dataset, params.entry, params.layout, params.synthetic, prefix, params.outcome_files
    )
elif params.table == "table4":
    build.make_table4(params.layout, params.dataset, params.synthetic, prefix, params.outcome_files, params.entry)
elif params.table == "table5":
    build.make_table5(list(snakemake.input), params.reduced_scale, prefix, params.dataset)  # noqa: F821
else:
    raise ValueError(f"unknown table {params.table!r}")
