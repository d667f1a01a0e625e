"""ss-predict: protein secondary structure prediction (8-state DSSP and 3-state H/E/C)."""

__version__ = "0.1.0"
