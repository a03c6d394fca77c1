"""Evaluate stage: the test split's ground truth and the per-case metrics of every prediction.

``ground_truth`` (export_ground_truth: label maps in the original geometry), ``evaluate`` (run_evaluation:
per-case CSV and summary JSON), ``tasks`` (what each dataset layout scores), ``overlap`` (Dice, HD95 and NSD
with the empty-mask conventions), ``surface`` (surface distances, NSD and both HD95s on the masks' bounding
box), ``lesionwise`` (BraTS 2023 lesion-wise Dice and HD95), ``airway`` (AIIB2023's IoU, DLR, DBR), ``summary``
(statistics, the paired Wilcoxon test, nnU-Net v2's summary.json shape); ``cli`` registers ``segmamba
ground-truth`` and ``segmamba evaluate``.
"""
