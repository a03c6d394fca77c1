"""Report stage: the paper's Tables 2-5, the tables of datasets of your own and the figures.

``build`` (the step: ``ARTEFACTS``, the registry behind ``segmamba report <artefact>``, and the builders that
read the result files), ``tables`` (tidy accuracy tables and their statistics), ``efficiency_table``
(Table 5), ``render`` (Markdown and LaTeX), ``figures`` (matplotlib) and ``paper`` (the paper's published
numbers and method labels).
"""
