"""From files on disk to batches: one reader per format (`formats/`), features and batching, validation splits, profiles, and the homology-clean training-set builder (`build/`)."""
