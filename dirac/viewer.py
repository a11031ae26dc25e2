"""The realism dial at display time, in a local web page (``dirac view IMAGE``).

A background thread enhances the base decode at a few dial stops, spread over the dial first
(so the whole range is coarsely usable early), and caches each as PNG; a stdlib HTTP server on
loopback serves the page, a JSON status and the images. The page (``viewer_page.html``) loads
nothing from the network: it shows each stop as soon as it is ready, with a wipe or
side-by-side compare against the base decode. PSNR needs the original, so it is shown only
when given one; the receiver alone knows just the rate and bpp.
"""
from __future__ import annotations

import io
import ipaddress
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional, Sequence
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

import base_codecs
from base_codecs import DiracError

from .core.rates import check_rate, native_rate
from .metrics import psnr

PAGE = Path(__file__).with_name("viewer_page.html")
DEFAULT_STOPS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The page's own origin only: a hostile page cannot smuggle in resources, nor leak the image.
PAGE_POLICY = "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"


def coverage_order(stops: Sequence[float], costs: Sequence[int]) -> List[int]:
    """Stop indices in the order to compute them: the cheapest first, then always the stop
    farthest from every stop already queued (ties: the cheaper), so that early on the whole
    dial is coarsely covered, e.g. 0, 1, 0.5, 0.25, 0.75."""
    order = [min(range(len(stops)), key=lambda i: (costs[i], stops[i]))]
    while len(order) < len(stops):
        left = [i for i in range(len(stops)) if i not in order]
        order.append(max(left, key=lambda i: (min(abs(stops[i] - stops[j]) for j in order), -costs[i])))
    return order


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _db(value: float):
    """JSON has no infinity: identical images say ``"inf"``."""
    return round(value, 3) if math.isfinite(value) else "inf"


@dataclass
class Stop:
    realism: float
    calls: int
    state: str = "pending"  # pending, computing, ready, failed
    png: Optional[bytes] = None
    psnr: Optional[float] = None
    seconds: Optional[float] = None
    error: Optional[str] = None


class DialSession:
    """One base decode and its enhancements at the dial stops.

    ``start`` computes the stops on one background thread (the network already uses every
    core); HTTP handler threads read the cache under a lock and may move a stop the user is
    looking at to the front of the queue.
    """

    def __init__(
        self, enhancer, decoded: base_codecs.Decoded, name: str, stops: Sequence[float] = DEFAULT_STOPS,
        steps: int = 20, seed: int = 0, rate: Optional[float] = None, reference: Optional[np.ndarray] = None,
    ):
        from .core.sampler import check_seed, check_steps  # torch: not on importing this module (dirac --help)

        check_seed(seed)  # refused here, before serving, not later on every stop
        self.enhancer, self.decoded, self.name, self.steps, self.seed = enhancer, decoded, name, steps, seed
        self.rate = check_rate(enhancer.codec, native_rate(decoded.rate if rate is None else rate, enhancer.codec))
        self.stops = [Stop(r, check_steps(r, steps, enhancer.pipeline.scheduler.config.t_start_min)) for r in stops]
        self.reference = reference
        self.base_png = png_bytes(decoded.image)
        self.base_psnr = None if reference is None else psnr(decoded.image, reference)
        self._queue = coverage_order(stops, [s.calls for s in self.stops])
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="dirac-view-stops", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop after the stop in progress; the thread is a daemon, so exiting never waits on it."""
        with self._lock:
            self._closed = True
            self._queue.clear()

    def prioritise(self, index: int) -> None:
        with self._lock:
            if index in self._queue:
                self._queue.remove(index)
                self._queue.insert(0, index)

    def stop_png(self, index: int) -> Optional[bytes]:
        with self._lock:
            return self.stops[index].png

    def status(self) -> dict:
        rate = self.decoded.rate
        h, w = self.decoded.image.shape[:2]
        with self._lock:
            stops = [
                {
                    "realism": s.realism, "calls": s.calls, "state": s.state, "error": s.error,
                    "seconds": None if s.seconds is None else round(s.seconds, 2),
                    "psnr": None if s.psnr is None else _db(s.psnr),
                }
                for s in self.stops
            ]
            queue = list(self._queue)
        return {
            "name": self.name, "width": w, "height": h, "grey": self.decoded.image.ndim == 2,
            "family": rate.family, "rate_name": base_codecs.codec_type(rate.family).rate_scale.unit, "rate": self.rate,
            "bpp": rate.bpp, "steps": self.steps, "seed": self.seed, "reference": self.reference is not None,
            "base_psnr": None if self.base_psnr is None else _db(self.base_psnr), "stops": stops, "queue": queue,
        }

    def _next(self) -> Optional[Stop]:
        with self._lock:
            if self._closed or not self._queue:
                return None
            stop = self.stops[self._queue.pop(0)]
            stop.state = "computing"
            return stop

    def _run(self) -> None:
        while (stop := self._next()) is not None:
            started = time.perf_counter()
            try:
                out = self.enhancer.enhance(
                    self.decoded, self.rate, realism=stop.realism, steps=self.steps, seed=self.seed
                )
                png = png_bytes(out)
                quality = None if self.reference is None else psnr(out, self.reference)
            except Exception as exc:  # shown on the page; the other stops may still work
                with self._lock:
                    stop.state, stop.error = "failed", f"{type(exc).__name__}: {exc}"
                continue
            with self._lock:
                stop.state, stop.png, stop.psnr = "ready", png, quality
                stop.seconds = time.perf_counter() - started


class _Handler(BaseHTTPRequestHandler):
    server: "ViewerServer"

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        session = self.server.session
        match = re.fullmatch(r"/stop/(\d{1,6})\.png", path)  # a longer index is no stop (and int() would refuse it)
        if path == "/":
            self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_POLICY})
        elif path == "/api/status":
            self._send(200, json.dumps(session.status()).encode(), "application/json")
        elif path == "/base.png":
            self._send(200, session.base_png, "image/png")
        elif match and int(match.group(1)) < len(session.stops):
            png = session.stop_png(int(match.group(1)))
            if png is None:
                self._send(503, b"not computed yet", "text/plain", {"Retry-After": "1"})
            else:
                self._send(200, png, "image/png")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        """``/api/want/<i>``: the user is looking at stop i, so compute it next."""
        if not self._host_ok():
            return
        match = re.fullmatch(r"/api/want/(\d{1,6})", urlsplit(self.path).path)
        if match and int(match.group(1)) < len(self.server.session.stops):
            self.server.session.prioritise(int(match.group(1)))
            self._send(204, b"", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def _host_ok(self) -> bool:
        """Refuse requests addressed to another name (DNS rebinding: a remote page whose name
        resolves to 127.0.0.1 must not read the image)."""
        try:
            host = urlsplit("//" + (self.headers.get("Host") or "")).hostname
        except ValueError:  # a malformed name ("[::1") is no loopback name either
            host = None
        if host in ("localhost", self.server.server_address[0]):
            return True
        self._send(403, b"the viewer answers only to its loopback address", "text/plain")
        return False

    def _send(self, code: int, body: bytes, content_type: str, headers: Optional[dict] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        """Quiet: the terminal shows the URL, not every image the page polls."""


def _is_ipv4_loopback(host: str) -> bool:
    """Only an address literal: a name such as ``localhost`` may resolve anywhere."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server; it listens on an IPv4 loopback address only, never a LAN."""

    daemon_threads = True

    def __init__(self, session: DialSession, host: str = "127.0.0.1", port: int = 0):
        if not _is_ipv4_loopback(host):
            raise DiracError(f"refusing to serve on {host}: the viewer listens on loopback (127.0.0.1) only")
        if not 0 <= port <= 65535:
            raise DiracError(f"port must be in 0..65535 (0: a free port), got {port}", option="port")
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise DiracError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self.session = session

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def handle_error(self, request, client_address) -> None:
        """A page closed mid-download is normal, not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
