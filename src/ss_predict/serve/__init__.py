"""ss-serve: a local prediction server (web page + JSON API) on one loaded model, with micro-batching.
Needs the `serve` extra (FastAPI, uvicorn). `app.create_app(predictor, limits)` builds the ASGI app,
`batcher.Batcher` coalesces requests, `cli.main` is the `ss-serve` command."""
