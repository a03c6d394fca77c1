"""Inference step: Gaussian sliding-window prediction with mirror test-time augmentation, exported as NIfTI.

Public entry points: :func:`segmamba.inference.sliding_window.predict_logits` and
:func:`segmamba.inference.predictor.predict_cases` (``segmamba predict`` on the command line).
"""
