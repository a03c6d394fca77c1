"""Report stage: the paper's Tables 2-5, the tables of datasets of your own and the figures.

``artefacts`` (the registry behind ``segmamba report <artefact>``: builder, kind, report caption), ``build``
(reads result files, calls the rest), ``tables`` (tidy accuracy tables and their statistics),
``efficiency_table`` (Table 5), ``render`` (Markdown and LaTeX), ``figures`` (matplotlib) and ``paper`` (the
paper's published numbers and method labels).
"""
