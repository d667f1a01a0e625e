"""Models to probabilities: batched prediction on a device (`engine`), temperature maths (`calibration`), process groups (`distributed`)."""
