"""ss-serve: one loaded model behind a web page and a JSON API (uvicorn). Startup problems (a bad -m, a port in
use, a bad limit) end in one line and exit status 2; SIGTERM or Ctrl-C finish the requests in flight, exit 0."""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import socket
import sys

from .. import __version__
from ..cli.args import OneLineParser, guarded
from ..config.rules import Rule, positive_int, threads
from ..errors import UserError
from .limits import Limits

ALL_INTERFACES = ("0.0.0.0", "::", "")


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:  # (isdigit alone takes '²')
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535; 0: any free port)")
    return int(text)


SECONDS = Rule(0, 24 * 3600, above=True)  # --timeout


def parse_args(argv: list[str] | None):
    d = Limits()
    ap = OneLineParser(prog="ss-serve", description="Serve ss-predict's model: a web page at / and a JSON API at "
                        "/api/predict (OpenAPI docs at /docs). Requests are queued and predicted together in "
                        "token-budget batches by one model thread.")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                    "only; 0.0.0.0 opens it to the network, without any authentication)")
    ap.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000; 0: any free port)")
    ap.add_argument("-m", "--model", default="default",
                    help="bundled model name or checkpoint path (several joined by commas are averaged); "
                    "fixed for the server's life")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--max-tokens", type=positive_int, default=32768, help="residues per batch (as ss-predict)")
    ap.add_argument("--threads", type=threads, help="CPU threads for the model (default: PyTorch's choice)")
    ap.add_argument("--max-residues", type=positive_int, default=d.max_residues,
                    help=f"residues in one request (default {d.max_residues}; more: 413)")
    ap.add_argument("--max-svg-residues", type=positive_int, default=d.max_svg_residues,
                    help=f"residues in one format=svg request (default {d.max_svg_residues}; more: 413; drawing is "
                    "slow)")
    ap.add_argument("--max-body", type=positive_int, default=d.max_body,
                    help=f"bytes in one request body (default {d.max_body}; more: 413)")
    ap.add_argument("--max-queue", type=positive_int, default=d.max_queue,
                    help=f"requests waiting for the model (default {d.max_queue}; more: 503 with Retry-After)")
    ap.add_argument("--timeout", type=SECONDS.arg, default=d.timeout,
                    help=f"seconds from a request's arrival to its answer (default {d.timeout:g}; later: 504); also "
                    "the most a connection may take to send a complete request (later: closed)")
    ap.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    ap.add_argument("--version", action="version", version=f"ss-serve (ss-predict {__version__})")
    return ap.parse_args(argv)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one line saying why not (before the model is loaded)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise UserError(f"--host {host}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(1024)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use (another server?): choose another --port") from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


BAD_HTTP = json.dumps({"error": "the request is not valid HTTP/1.1 (a malformed request line, header or chunked "
                                "body, a Content-Length that is not a number or given twice with two values, or "
                                "headers over 16 KiB)"}).encode()
LINGER_BYTES = 1 << 20  # read and dropped after such a 400 (within --timeout), before the connection is closed


def server(app, limits: Limits, access_log: bool = True):
    """The uvicorn server ss-serve runs `app` in (tests run it too)."""
    import h11
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Server(uvicorn.Server):
        """uvicorn re-raises the signal that stopped it once it has drained; a drained server exits 0."""

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    class Protocol(H11Protocol):
        """uvicorn's h11 connection, but a client that sends no complete request within `limits.timeout` of
        connecting or of its last answer (headers never finished, or a body the app did not ask for still
        trickling in) is disconnected, so slow clients cannot hold the server; and malformed HTTP is
        answered with the API's JSON error body (uvicorn's is plain text)."""
        _due = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self):
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc):
            if self._due is not None:
                self._due.cancel()
            super().connection_lost(exc)

        def _arm(self):
            if self._due is not None:
                self._due.cancel()
            self._due = self.loop.call_later(limits.timeout, self._overdue, self.cycle)

        def _overdue(self, cycle):
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)  # no new request since
            if idle and not self.transport.is_closing():
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # an answer has begun: just close
                self.transport.close()
                return
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BAD_HTTP)).encode()),
                       (b"connection", b"close")]
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
                                 + self.conn.send(h11.Data(data=BAD_HTTP)) + self.conn.send(h11.EndOfMessage()))
            # Close once the client has stopped sending: closing on unread data would reset the connection
            # before a client still sending (a 200 kB header) reads the answer.
            self._lingering, self._linger_end = 0, self.loop.time() + limits.timeout
            self.flow.resume_reading()
            self._linger()

        _lingering = None  # bytes read and dropped since a 400

        def data_received(self, data: bytes) -> None:
            if self._lingering is None:
                return super().data_received(data)
            self._lingering += len(data)
            self._linger()

        def _linger(self):
            if self._due is not None:
                self._due.cancel()
            if self._lingering > LINGER_BYTES or self.loop.time() > self._linger_end:
                self.transport.close()
            else:
                self._due = self.loop.call_later(0.5, self.transport.close)

    return Server(uvicorn.Config(app, http=Protocol, log_level="info", access_log=access_log,
                                 timeout_graceful_shutdown=int(limits.timeout) + 5, timeout_keep_alive=5,
                                 limit_concurrency=max(1000, 4 * limits.max_queue), server_header=False,
                                 proxy_headers=False))


@guarded
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UserError(f"ss-serve needs {e.name}: pip install 'ss-predict[serve]'") from None
    if args.host in ALL_INTERFACES:
        print(f"ss-serve: warning: listening on all interfaces ({args.host or 'any'}): anyone who can reach this "
              "machine can use the server, which has no authentication; --host 127.0.0.1 keeps it local",
              file=sys.stderr, flush=True)
    sock = listen(args.host, args.port)
    import torch

    from ..api import Predictor
    from ..data.features import uses_profile
    from .app import create_app, model_label

    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor(args.model, args.device, args.max_tokens)
    if uses_profile(predictor.features):
        raise UserError(f"model '{args.model}' needs profiles, which a request cannot send; serve a "
                        "sequence-only model")
    limits = Limits(args.max_residues, args.max_body, args.max_queue, args.timeout,
                    max_svg_residues=args.max_svg_residues)
    srv = server(create_app(predictor, limits), limits, access_log=not args.no_access_log)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"ss-serve: model {model_label(args.model)} on {predictor.device}: http://{shown}:{port}/ "
          "(API /api/predict, docs /docs); SIGTERM or Ctrl-C stops it", file=sys.stderr, flush=True)
    srv.run(sockets=[sock])
    if not srv.started:
        raise UserError("the server did not start (see the log above)")
