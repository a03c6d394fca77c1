"""Applying a model to a whole volume, shared by validation during training and by the predict stage.

``sliding_window``: MONAI's Gaussian sliding window with mirror test-time augmentation
(:func:`segmamba.inference.sliding_window.predict_logits`) and the autocast context both use. Reading the model
from its checkpoint is :func:`segmamba.models.checkpoint.load_model`.
"""
