"""ss-serve: a local prediction server (web page + JSON API) on one loaded model, one model thread and queue.
Needs the `serve` extra (FastAPI, uvicorn). `app.create_app(predictor, limits)` builds the ASGI app,
`batcher.Batcher` queues requests for the model thread, `cli.main` is the `ss-serve` command."""
