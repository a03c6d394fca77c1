"""What each training and prediction cost, measured in the run itself (see docs/cost.md).

``gpu``: peak CUDA memory and NVML energy readings (None off CUDA or without NVML's energy counter);
``train``: the tracker whose totals go into ``train_summary.json`` (``cost`` entry), resumes included;
``predict``: seconds, peak memory and energy per predicted case, in ``prediction_log.json``.
FLOPs are counted by :mod:`segmamba.models.flops`; the table is ``segmamba.report.cost_table``.
"""
