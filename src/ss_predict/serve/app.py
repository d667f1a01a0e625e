"""The ASGI app of ss-serve (FastAPI): POST /api/predict, GET /api/health (with the model's tasks), GET
/api/formats (the formats it offers: those the registry marks served, each with the tasks it needs and whether
this server's model can write it), GET / (the page); the OpenAPI schema at /openapi.json, its docs at /docs and
/redoc. Every error a client sees is JSON {"error": "one line"}; a format the model cannot write (netsurfp from
an SS-only model) is a 400 before predicting."""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from enum import Enum
from importlib import resources
from pathlib import Path

from Bio.SeqIO.FastaIO import SimpleFastaParser
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..api import SOURCE
from ..data.formats.fasta import FastaRecords
from ..errors import FormatError, NucleotideError, OutOfMemory, UserError
from ..prediction import pictures
from ..prediction.renderers import FORMATS, format_problem, render
from .batcher import Batcher, QueueFull
from .limits import Limits


SERVED = {name: f for name, f in FORMATS.items() if f.served}  # the registry's formats this server offers
Format = Enum("Format", {name: name for name in SERVED}, type=str)  # the format parameter, checked by FastAPI
OTHER_FORMATS = "format=json, ss2 or horiz"
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


class ErrorBody(BaseModel):
    error: str


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


DRAIN = 64 * 1024 * 1024  # bytes of an oversized body read (and dropped) so that its client reads the 413


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The body, within `seconds` (else 408). Over `limit` bytes (declared or streamed): 413, once the rest
    has been read and dropped (up to DRAIN bytes more, within `seconds`): a client that sends its whole body
    before it reads (urllib, requests) would otherwise meet a reset connection instead of the answer. A
    client that asked `Expect: 100-continue` (curl) is answered at once, before it sends the body."""
    too_big = ApiError(413, f"the request body is over {limit:,} bytes, the most this server takes; send fewer "
                            "sequences")
    declared = request.headers.get("content-length", "")
    over = declared.isdigit() and int(declared) > limit
    if over and (int(declared) > limit + DRAIN or request.headers.get("expect", "").lower() == "100-continue"):
        raise too_big
    chunks, n = [], 0

    async def read():
        nonlocal n, over
        async for chunk in request.stream():
            n += len(chunk)
            over = over or n > limit
            if not over:
                chunks.append(chunk)
            elif n > limit + DRAIN:
                return

    try:
        await asyncio.wait_for(read(), seconds)
    except asyncio.TimeoutError:
        if not over:
            raise ApiError(408, f"the request body did not arrive within {seconds:g} s") from None
    except ClientDisconnect:  # (or the server closed it: malformed chunks) nobody reads this answer
        raise ApiError(400, "the client closed the connection before its body arrived") from None
    if over:
        raise too_big
    return b"".join(chunks)


def sequences_of(body: bytes, content_type: str):
    """What `Predictor.read` takes, from FASTA text or JSON {"sequences": {id: seq} | [{"id", "sequence"}]}."""
    media = content_type.split(";")[0].strip().lower()
    if media.startswith("multipart/"):
        raise ApiError(415, "send FASTA as the body (text/plain) or JSON, not as a form upload")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"{SOURCE}: the request body is not UTF-8 text (byte {e.start + 1})") from None
    if media == "application/json" or media.endswith("+json") or text.lstrip()[:1] in ("{", "["):
        return _json_sequences(text)  # FASTA starts with '>': JSON sent as a form (curl -d) is read as JSON
    if not text.strip():
        raise FormatError(f"{SOURCE}: empty request body (give FASTA text or JSON)")
    if not text.lstrip().startswith(">"):
        raise FormatError(f"{SOURCE}: line 1 does not start with '>' (not FASTA)")
    if "\x00" in text:  # as ss-predict reads a file: a NUL is binary data
        line = len(re.findall(r"\r\n|\r|\n", text[:text.index("\x00")])) + 1
        raise FormatError(f"{SOURCE}: line {line}: binary data, not a text file")
    return FastaRecords(SimpleFastaParser(io.StringIO(text)))  # ids: the headers' first words, as in a file


def _json_sequences(text: str):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"the request body is not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ApiError(400, "the request body is JSON nested too deeply to read") from None
    except ValueError:  # Python reads integers of up to 4,300 digits (sys.get_int_max_str_digits)
        raise ApiError(400, "the request body is JSON with a number of too many digits to read") from None
    seqs = doc.get("sequences") if isinstance(doc, dict) else None
    if isinstance(seqs, dict):
        for rid, seq in seqs.items():
            if not isinstance(seq, str):
                raise FormatError(f"{SOURCE}: record '{rid}': the sequence must be a string")
        return seqs
    if isinstance(seqs, list):
        for n, item in enumerate(seqs, start=1):
            if not (isinstance(item, dict) and isinstance(item.get("id"), str)
                    and isinstance(item.get("sequence"), str)):
                raise FormatError(f'{SOURCE}: item {n} is not {{"id": "...", "sequence": "..."}} with string values')
        return [(item["id"], item["sequence"]) for item in seqs]
    raise FormatError(f'{SOURCE}: expected JSON {{"sequences": {{"ID": "SEQUENCE", ...}}}} or '
                      '{"sequences": [{"id": "ID", "sequence": "SEQUENCE"}, ...]}')


def model_label(spec: str) -> str:
    """The model as /api/health names it: bundled names as given, checkpoint files by file name only."""
    return ",".join(Path(s.strip()).name for s in spec.split(",") if s.strip())


def render_picture(preds: list, fmt: str) -> str:
    return FORMATS[fmt].render(preds)  # several records: stacked in one picture, as ss-predict -f svg -o FILE.svg


def check_ids_written(records: list, fmt: str) -> None:
    """Refuse (422, naming the record) an id that is not Unicode text, such as one with a lone surrogate
    (JSON can send "\\ud800"): format `fmt` cannot write it as UTF-8 (format json escapes it)."""
    for r in records:
        try:
            r.id.encode("utf-8")
        except UnicodeEncodeError as e:
            shown = r.id.encode("utf-8", "backslashreplace").decode()
            raise FormatError(f"{SOURCE}: record '{shown}': the id is not Unicode text (character {e.start + 1} is a "
                              f"lone surrogate), which format {fmt} cannot write; fix the id, or use format=json") \
                from None


def _check_picture(fmt: str, proteins: list, limits: Limits) -> None:
    """Refuse, before queueing, a picture request this server cannot draw: no matplotlib (400), more residues
    than `max_svg_residues` or a chain over pictures.MAX_RESIDUES (413)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ApiError(400, f'format {fmt} needs matplotlib, which this server lacks (its operator can pip install '
                            f'"ss-predict[plot]"); use {OTHER_FORMATS}')
    check_ids_written(proteins, fmt)  # (a picture draws its records' ids)
    residues = sum(len(p.sequence) for p in proteins)
    if residues > limits.max_svg_residues:
        raise ApiError(413, f"{residues:,} residues in this request; format {fmt} draws at most "
                            f"{limits.max_svg_residues:,} per request: send fewer, or use {OTHER_FORMATS}")
    for p in proteins:
        try:
            pictures.check_length(p.id, len(p.sequence), OTHER_FORMATS)
        except UserError as e:
            raise ApiError(413, str(e)) from None


def api_message(e: UserError) -> str:
    """A user error's line as a client of this server should read it (no advice about CLI options)."""
    if isinstance(e, NucleotideError):  # the CLI's advice names options a request cannot send
        return f"{e.problem} (this server predicts proteins only)"
    return str(e)


PREDICT_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["sequences"], "properties": {"sequences": {
        "oneOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                  {"type": "array", "items": {"type": "object", "required": ["id", "sequence"], "properties": {
                      "id": {"type": "string"}, "sequence": {"type": "string"}}}}]}}},
                         "example": {"sequences": {"ubiquitin": UBIQUITIN}}},
    "text/plain": {"schema": {"type": "string"}, "example": f">ubiquitin\n{UBIQUITIN}\n"}}}
ERRORS = {s: {"model": ErrorBody, "description": d} for s, d in {
    400: "unreadable JSON, format svg on a server without matplotlib, or a format this server's model cannot "
         "write (netsurfp needs a multi-task model: see GET /api/formats)",
    408: "the body did not arrive within the time limit",
    413: "body or residues over the limit (format svg: a lower limit)",
    415: "a form upload", 422: "an invalid sequence (the message names record and position)",
    503: "the queue is full (see Retry-After)", 504: "no answer within the time limit"}.items()}


def create_app(predictor, limits: Limits = Limits()) -> FastAPI:
    """The app around a loaded `ss_predict.Predictor`; one model thread serves every request."""
    batcher = Batcher(predictor.predict_proteins, limits.max_queue)
    # One drawing thread: matplotlib's rcParams are global, and a picture past its deadline (504) still
    # finishes here, so the drawing a server does at once is bounded by one max_svg_residues picture.
    drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ss-serve-svg")
    page = resources.files("ss_predict.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        try:
            yield
        finally:  # after the server's graceful shutdown: finish what is queued, then stop the thread
            await run_in_threadpool(batcher.stop)
            drawer.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="ss-predict", version=__version__, lifespan=lifespan,
                  description="Protein secondary structure (8-state DSSP and 3-state H/E/C) from sequence.")
    app.state.batcher, app.state.limits = batcher, limits

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return error(e.status, str(e), e.headers)

    @app.exception_handler(UserError)  # FormatError (bad input) and any other user error: never a 500
    async def _user_error(request, e: UserError):  # out of memory is the server's state, not the request's fault
        if isinstance(e, OutOfMemory):
            return error(503, f"{str(e).split(':')[0]} on the server: try again later, or send fewer or shorter chains")
        return error(422, api_message(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        return error(422, "; ".join(f"{err['loc'][0]} parameter {'.'.join(map(str, err['loc'][1:]))}: {err['msg']}"
                                    for err in e.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request, e: HTTPException):
        return error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request, e: Exception):  # the traceback goes to the server's log, never to the client
        return error(500, "internal server error; the server's log has the details")

    async def draw(preds: list, fmt: str, deadline: float) -> str:
        """The picture, drawn within the request's deadline (else 504; the drawing thread finishes it)."""
        loop = asyncio.get_running_loop()
        late = ApiError(504, f"no picture within {limits.timeout:g} s of the request's arrival (drawing is slow); "
                             f"send fewer residues, or use {OTHER_FORMATS}")
        if deadline - loop.time() <= 0:
            raise late
        try:
            return await asyncio.wait_for(loop.run_in_executor(drawer, render_picture, preds, fmt), deadline - loop.time())
        except asyncio.TimeoutError:  # not started yet: cancelled; started: it runs on, its picture discarded
            raise late from None

    @app.post("/api/predict", responses={**ERRORS, 200: {
                  "description": "the predictions in the chosen format (several: a JSON object of their texts)",
                  "content": {f.media.split(";")[0]: {} for f in SERVED.values()}}},
              openapi_extra={"requestBody": PREDICT_BODY}, summary="Predict secondary structure")
    async def predict(request: Request, fmt: list[Format] = Query(
            [Format.json], alias="format", description="json: ss-predict's JSON records. Several (format=json&"
            "format=svg): one prediction, answered as a JSON object of each format's text")):
        """FASTA text (text/plain) or JSON; the answer is what `ss-predict -f FORMAT` writes. Several formats:
        a JSON object {format: the text that format alone answers}, from one prediction."""
        formats = list(dict.fromkeys(f.value for f in fmt))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout
        body = await read_body(request, limits.max_body, limits.timeout)
        for f in formats:  # (after the body: a client that sends it before it reads reads this answer)
            if why := format_problem(f, predictor.tasks):
                raise ApiError(400, why)
        proteins = await run_in_threadpool(lambda: predictor.read(sequences_of(
            body, request.headers.get("content-type", ""))))
        residues = sum(len(p.sequence) for p in proteins)
        if residues > limits.max_residues:
            raise ApiError(413, f"{residues:,} residues in this request; this server takes at most "
                                f"{limits.max_residues:,} per request: split it")
        drawn = [f for f in formats if SERVED[f].kind == "picture"]
        for f in drawn:
            _check_picture(f, proteins, limits)
        try:
            future = batcher.submit(proteins)
        except QueueFull as e:
            raise ApiError(503, f"busy: {e}; try again later",
                           {"Retry-After": str(batcher.retry_after())}) from None
        waiting = asyncio.wrap_future(future)
        try:
            preds = await asyncio.wait_for(waiting, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:  # wait_for cancelled the future: the worker skips it if it has not started it
            raise ApiError(504, f"no prediction within {limits.timeout:g} s (the server is busy); "
                                "try again later or send fewer residues") from None
        texts = await run_in_threadpool(lambda: {f: render(preds, f) for f in formats if f not in drawn})
        for f, text in texts.items():  # the answer is UTF-8: an id it cannot write is the client's (422)
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    check_ids_written(preds, f)
                    raise
        for f in drawn:
            texts[f] = await draw(preds, f, deadline)
        if len(formats) == 1:
            return Response(texts[formats[0]], media_type=SERVED[formats[0]].media)
        return JSONResponse({f: texts[f] for f in formats})

    @app.get("/api/health", summary="Model, version, queue")
    async def health():
        return {"status": "ok", "model": model_label(predictor.model), "tasks": list(predictor.tasks),
                "version": __version__,
                "device": str(predictor.device), "queue_depth": batcher.depth,
                "queued_residues": batcher.queued_residues,
                "served": {"accepted": batcher.accepted, "requests": batcher.requests, "runs": batcher.runs,
                           "residues": batcher.residues},
                "limits": {**asdict(limits), "max_tokens": predictor.max_tokens}}

    @app.get("/api/formats", summary="The formats offered (the page's download menu)")
    async def formats():
        """Each served format; `needs`: the model tasks it cannot be written without, `available`: whether this
        server's model has them (else a request for it is a 400)."""
        return [{"name": f.name, "extension": f.extension, "kind": f.kind, "media": f.media, "needs": list(f.needs),
                 "available": format_problem(f.name, predictor.tasks) is None} for f in SERVED.values()]

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer"})

    return app
