"""Shared test fixtures: the ../shared data folder (skipped when absent), small synthetic images
and a PSNR helper."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``$DIRAC_SHARED`` or the ``shared`` folder beside the checkout; skips the test if absent."""
    configured = os.environ.get("DIRAC_SHARED")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"
    if not (path / "datasets").is_dir():
        pytest.skip(f"shared data not found at {path} (set DIRAC_SHARED to the folder holding datasets/)")
    return path


def _smooth_rgb(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        128 + 100 * np.sin(xx / 17.0 + yy / 41.0),
        128 + 100 * np.cos(yy / 13.0),
        128 + 80 * np.sin((xx + yy) / 23.0),
    ]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


@pytest.fixture
def smooth_rgb() -> np.ndarray:
    """A 96x128 RGB image of smooth gradients: codecs reproduce it well at high rates."""
    return _smooth_rgb(96, 128)


@pytest.fixture
def textured_rgb() -> np.ndarray:
    """A 96x128 RGB image with seeded noise on top of gradients (fine chroma and luma detail)."""
    noise = np.random.default_rng(1234).normal(0, 25, (96, 128, 3))
    return np.clip(_smooth_rgb(96, 128) + noise, 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture
def psnr():
    """PSNR in dB of two uint8 images of the same shape."""
    return _psnr


TINY_MODEL = dict(channels=(8, 16, 32), encoder_depths=(1, 1), middle_depth=1, decoder_depths=(1, 1), embedding_dim=16)
TINY_STATS = dict(stats_rates=(5.0, 50.0, 95.0), stats_sigma=(0.06, 0.03, 0.01), stats_tau=(0.3, 0.15, 0.05))


def make_tiny_enhancer(codec: str = "jpeg", stats_rates=TINY_STATS["stats_rates"], **options):
    """A tiny randomly initialised enhancer for ``codec`` (real pipeline, fast, seeded), with model ``options``."""
    import torch

    from dirac import DiracPipeline, Enhancer, ResidualDenoiser
    from dirac.core.scheduler import DiracScheduler

    torch.manual_seed(0)
    model = ResidualDenoiser(codec=codec, **TINY_MODEL, **{**TINY_STATS, "stats_rates": stats_rates}, **options)
    for p in model.parameters():  # the zero-initialised head would make every output x~
        torch.nn.init.normal_(p, std=0.05)
    return Enhancer(DiracPipeline(model, DiracScheduler()))


@pytest.fixture(scope="session")
def tiny_enhancer():
    """A tiny randomly initialised JPEG enhancer."""
    return make_tiny_enhancer()


@pytest.fixture(scope="session")
def tiny_weights(tiny_enhancer, tmp_path_factory) -> Path:
    """The tiny enhancer saved with ``save_pretrained``: a weights directory for the CLI."""
    path = tmp_path_factory.mktemp("weights") / "jpeg"
    tiny_enhancer.pipeline.save_pretrained(path)
    return path


def encode_video(frames, container_format: str, codec_name: str = "libx265", bframes: int = 0, qp: str = "qp=12:ipratio=1") -> bytes:
    """A short video muxed by PyAV (RGB frames converted by swscale, VUI left unspecified).
    No B-frames by default: with them libx265 may hand the muxer an unset DTS, which MP4 then
    rejects; a raw stream (container "hevc") takes them. ``qp``: x265's rate settings (by
    default every picture at QP 12; without ipratio=1, I pictures are coded about 3 QP finer)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as out:
        stream = out.add_stream(codec_name, rate=5)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec_name == "libx265":
            stream.codec_context.options = {"x265-params": f"{qp}:bframes={bframes}:log-level=error"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
