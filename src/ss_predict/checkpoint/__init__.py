"""Checkpoint files: the file format (save, load, validate; `format`) and loading models from files or bundled names for prediction (`loading`)."""
