"""Efficiency stage (Table 5): peak training and inference memory and sliding-window throughput of one model.

``runner`` (measure_efficiency: each measurement in a fresh process, out-of-memory recorded as "OOM") and
``measure`` (the measurements themselves; the training step is the trainer's own optimiser and loss);
``cli`` registers ``segmamba efficiency``.
"""
