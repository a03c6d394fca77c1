"""``segmamba status``: where every training run stands and which tables exist, from the files runs write."""
