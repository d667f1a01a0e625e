"""Training: the one loop (`loop`), losses, distillation, run folders (`runs`)."""
