"""Scoring: Q3/Q8/SOV/per-class/confusion/calibration metrics (`metrics`), `ss-eval` (`evaluate`), its plots (`plots`), and fitting temperatures on a validation split (`calibrate`)."""
