"""The console commands ss-train, ss-eval, ss-predict and ss-data: argument parsing and one-line errors; the work lives in the packages below."""
