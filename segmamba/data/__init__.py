"""Data stage: raw dataset readers, synthetic stand-ins, check, split, preprocessing and the patch loader.

Modules: ``registry`` (one definition per dataset layout: DATASETS), ``dataset_config`` (resolve_dataset: a
config entry, an nnU-Net dataset.json), ``datasets`` (the readers, open_dataset), ``synth``, ``check``,
``split``, ``preprocess`` (preprocess_dataset, preprocess_image, restore_to_original),
``preprocessed_reader`` (load_dataset_json, load_case: reads what ``preprocess`` writes), ``augment`` and
``loader`` (PatchBatches), ``settings`` (SynthSettings, PreprocessSettings); ``cli`` registers synth, check,
split and preprocess.
"""
