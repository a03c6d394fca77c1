"""Models for folder prediction, and their softmax probabilities in an input's own geometry, averaged.

Each model preprocesses a case its own way (its recorded ``preprocessing``: crop, normalisation, target
spacing, through :func:`segmamba.data.preprocess.preprocess_image`), predicts logits with the sliding window
(:func:`segmamba.inference.sliding_window.predict_logits`), and its softmax is mapped back to the input grid:
resampled linearly to the cropped box, background (probability 1) outside it. Several models are ensembled by
the mean of these probabilities, as nnU-Net ensembles, and the label map is their argmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from segmamba.errors import InputError
from segmamba.predict.images import Geometry
from segmamba.predict.settings import PredictSettings

#: What every model of an ensemble must share: the input channels and the label meaning.
SHARED_DATASET_FIELDS = ("channel_names", "label_names", "num_classes")


@dataclass
class PredictionModel:
    """A model ready to predict, with the preprocessing it was trained with."""

    name: str
    network: torch.nn.Module
    spec: dict[str, Any]
    dataset: dict[str, Any]
    preprocessing: dict[str, Any]


def load_models(paths: list[str], device: torch.device) -> list[PredictionModel]:
    """Open every ``--model`` (run folder or bundle); InputError when they disagree on channels or labels."""
    from segmamba.bundle.source import build_model, open_model

    models = []
    for path in paths:
        manifest, state_dict = open_model(path)
        network = build_model(manifest, state_dict, str(path)).to(device)
        models.append(
            PredictionModel(str(path), network, manifest["model"], manifest["dataset"], manifest["preprocessing"])
        )
    first = models[0]
    for other in models[1:]:
        for key in SHARED_DATASET_FIELDS:
            if other.dataset.get(key) != first.dataset.get(key):
                raise InputError(
                    f"models {first.name} and {other.name} cannot be ensembled: {key} "
                    f"{first.dataset.get(key)!r} vs {other.dataset.get(key)!r}"
                )
    return models


def probabilities_on_input_grid(
    model: PredictionModel, image: np.ndarray, geometry: Geometry, options: PredictSettings
) -> np.ndarray:
    """Softmax probabilities (K, X, Y, Z) float32 of one model on the input's grid."""
    from segmamba.data.preprocess import preprocess_image, resample_channels
    from segmamba.inference.sliding_window import predict_logits

    prepared, properties = preprocess_image(image, geometry.affine, geometry.spacing, model.preprocessing)
    roi = tuple(options.roi_size or model.spec["patch_size"])
    logits = predict_logits(
        model.network, prepared, roi, options.overlap, options.sw_batch_size, tta=options.tta, amp=options.amp
    )
    probabilities = torch.softmax(logits.float(), dim=0).numpy()
    cropped = resample_channels(probabilities, properties["cropped_shape"], order=1)
    full = np.zeros((probabilities.shape[0], *properties["original_shape"]), np.float32)
    full[0] = 1.0  # outside the crop box: background, as restore_to_original un-crops
    full[(slice(None), *(slice(lo, hi) for lo, hi in properties["crop_box"]))] = cropped
    return full


def ensemble_probabilities(
    models: list[PredictionModel], image: np.ndarray, geometry: Geometry, options: PredictSettings
) -> np.ndarray:
    """Mean of the models' probabilities on the input's grid (K, X, Y, Z) float32."""
    total = None
    for model in models:
        probabilities = probabilities_on_input_grid(model, image, geometry, options)
        total = probabilities if total is None else total + probabilities
    return (total / len(models)).astype(np.float32)
