"""Training: the one loop (`loop`), resuming it (`resume`), lr schedule and EMA (`optim`), what a run records
(`record`), the scikit-learn fit (`classical`), losses, distillation, run folders (`runs`)."""
