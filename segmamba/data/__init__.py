"""Data stage: raw dataset readers, synthetic stand-ins, check, split and preprocessing.

Modules: ``registry`` (one definition per dataset layout: DATASETS), ``dataset_config`` (resolve_dataset: a
config entry, an nnU-Net dataset.json), ``datasets`` (the readers, open_dataset), ``synth``, ``check``,
``split``, ``preprocess`` (preprocess_dataset, preprocess_image, restore_to_original),
``preprocessed_reader`` (load_dataset_json, load_case: reads what ``preprocess`` writes, for training and
prediction), ``settings`` (SynthSettings, PreprocessSettings); ``cli`` registers synth, check, split and
preprocess. The training-time patch loader and augmentation are in :mod:`segmamba.train` (``dataloading``,
``augmentation``).
"""
