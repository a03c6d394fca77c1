"""Data step: raw dataset readers, synthetic stand-ins, split, check, preprocessing and the patch loader.

Modules: ``registry`` (one definition per dataset layout: DATASETS, resolve_dataset), ``datasets``
(the readers, open_dataset), ``synth``, ``split``, ``check``, ``preprocess`` (preprocess_dataset,
preprocess_image, restore_to_original), ``preprocessed`` (load_dataset_json, load_case), ``labels``,
``augment`` and ``loader`` (PatchBatches); ``cli`` registers synth, check, split, preprocess and labels.
"""
