"""Predict stage: Gaussian sliding-window prediction with mirror test-time augmentation, exported as NIfTI.

Public entry points: :func:`segmamba.predict.sliding_window.predict_logits` and
:func:`segmamba.predict.predictor.predict_cases` (``segmamba predict`` on the command line).
"""
