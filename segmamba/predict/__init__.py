"""Predict stage: Gaussian sliding-window prediction with mirror test-time augmentation, exported as NIfTI.

Public entry point: :func:`segmamba.predict.predictor.predict_cases` (``segmamba predict`` on the command line);
the sliding window itself is :func:`segmamba.inference.sliding_window.predict_logits`.
"""
