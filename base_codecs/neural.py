"""Learned image codecs from CompressAI behind the same interface: real entropy-coded bytes with
a small header, so a stream names the model, quality and weights it needs to be decoded.

Layout (big-endian): ``DNC1`` | model id (u8 length + UTF-8) | quality (u8, 0 = unknown) |
weights fingerprint (u32 CRC) | height, width (u32) | channels (u8) | latent height, width (u32) |
number of latent strings (u8), each as u32 length + bytes.

torch and compressai are imported lazily, so ``import base_codecs`` stays light.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .core import BaseCodec, CodecError, Decoded, Degradation, ImageLike, RateInfo, RateScale, as_bytes, as_uint8_array, check_size
from .registry import register

MAGIC = b"DNC1"
STRIDE = 64  # total downsampling of the hyperprior models; images are padded to a multiple
MIN_LATENT_STRIDE = 16  # every CompressAI image model downsamples its latents at least this much
# The codec that ships with the plugin (trained by `dirac train-codec`, one file per quality):
# the default, so a machine without internet has a neural codec; zoo models stay available by name.
SHIPPED_MODEL = "dirac-hyperprior"
SHIPPED_CODEC = Path(__file__).with_name("weights") / "neural"
DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_METRIC = SHIPPED_MODEL, 3, "mse"
_FIXED = struct.Struct(">BIIIBIIB")  # quality, fingerprint, height, width, channels, latent h, w, n strings


def fingerprint(net) -> int:
    """CRC32 over every parameter and buffer (entropy tables included), in key order."""
    import torch

    crc = 0
    for key, tensor in sorted(net.state_dict().items()):
        crc = zlib.crc32(key.encode(), crc)
        crc = zlib.crc32(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes(), crc)
    return crc


def _prepare(net):
    """Evaluation mode with entropy-coder tables built (CompressAI's ``update``)."""
    net.eval()
    net.update()
    return net


def _zoo_urls() -> Dict[str, Dict[str, Dict[int, str]]]:
    from compressai.zoo.image import model_urls

    return model_urls


def _zoo_url(model: str, metric: str, quality: int) -> str:
    urls = _zoo_urls()
    if model not in urls:
        raise CodecError(f"unknown CompressAI model {model!r}; pretrained models: {', '.join(sorted(urls))}")
    if metric not in urls[model] or quality not in urls[model][metric]:
        raise CodecError(
            f"CompressAI has no pretrained {model!r} for metric {metric!r} at quality {quality!r}; "
            f"qualities: {sorted(urls[model].get(metric, {}))}"
        )
    return urls[model][metric][quality]


def _load_zoo(model: str, metric: str, quality: int):
    """A pretrained CompressAI model: downloaded to the torch hub cache on first use."""
    from compressai.zoo import image_models

    url = _zoo_url(model, metric, quality)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # torch hub's "Downloading: ..." line; failures say more below
            net = image_models[model](quality=quality, metric=metric, pretrained=True, progress=False)
    except Exception as exc:  # no network, proxy, corrupt cache: urllib, OSError and torch errors
        raise CodecError(
            f"could not load the pretrained CompressAI weights {model} ({metric}, quality {quality}) from {url}: "
            f"{exc}. They download on first use, which needs internet; offline, copy the file into "
            "the torch hub cache (torch.hub.get_dir()/checkpoints), or from Python pass checkpoint=<local file>"
        ) from None
    return _prepare(net)


def _load_shipped(quality: int):
    """The shipped codec's model for ``quality``, or a CodecError saying which qualities ship."""
    path = SHIPPED_CODEC / f"q{quality}.pt"
    if not path.is_file():
        shipped = sorted(int(p.stem[1:]) for p in SHIPPED_CODEC.glob("q*.pt") if p.stem[1:].isdigit())
        raise CodecError(f"the shipped neural codec has no quality {quality} (it has {shipped or 'none yet'}); "
                         "train it with `dirac train-codec`, or name a CompressAI zoo model")
    net, _, _ = _load_checkpoint(str(path), None)
    return net


def _load_checkpoint(path: str, model: Optional[str]) -> Tuple[object, str, Optional[int]]:
    """(net, architecture, quality) from a torch file holding either
    ``{"architecture": name, "state_dict": ..., "quality": q}`` or a bare state dict (then
    ``model=`` names the architecture)."""
    import torch
    from compressai.zoo.image import model_architectures
    from compressai.zoo.pretrained import load_pretrained

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # missing file, not a torch file, unsafe pickle
        raise CodecError(f"cannot read the neural-codec checkpoint {path!r}: {exc}") from None
    quality = None
    if isinstance(state, dict) and "state_dict" in state:
        model, quality = state.get("architecture", model), state.get("quality")
        state = state["state_dict"]
    if not isinstance(model, str) or model not in model_architectures:
        raise CodecError(
            f"checkpoint {path!r}: architecture {model!r} is not a CompressAI model "
            f"({', '.join(sorted(model_architectures))}); store it as 'architecture' or pass model="
        )
    try:
        net = model_architectures[model].from_state_dict(load_pretrained(state))
    except Exception as exc:  # wrong keys or shapes for that architecture
        raise CodecError(f"checkpoint {path!r} does not fit architecture {model!r}: {exc}") from None
    return _prepare(net), model, quality


def _pack(model_id: str, quality: int, crc: int, shape, channels: int, latent, strings: List[bytes]) -> bytes:
    name = model_id.encode()
    head = MAGIC + bytes([len(name)]) + name
    head += _FIXED.pack(quality, crc, shape[0], shape[1], channels, latent[0], latent[1], len(strings))
    return head + b"".join(struct.pack(">I", len(s)) + s for s in strings)


def _unpack(data: bytes):
    """(model id, quality, fingerprint, (h, w), channels, latent shape, strings) of a stream."""
    if not data:
        raise CodecError("neural-codec data is empty (0 bytes)")
    if not data.startswith(MAGIC):
        raise CodecError(f"not a dirac neural-codec stream: it does not start with {MAGIC!r}")
    try:
        end = 5 + data[4]
        model_id = data[5:end].decode()
        quality, crc, height, width, channels, lh, lw, count = _FIXED.unpack_from(data, end)
        pos, strings = end + _FIXED.size, []
        for _ in range(count):
            (length,) = struct.unpack_from(">I", data, pos)
            strings.append(data[pos + 4 : pos + 4 + length])
            if len(strings[-1]) != length:
                raise ValueError(f"latent string {len(strings)} needs {length} bytes")
            pos += 4 + length
    except (IndexError, UnicodeDecodeError, struct.error, ValueError) as exc:
        raise CodecError(f"truncated or corrupt neural-codec stream ({len(data)} bytes): {exc}") from None
    if pos != len(data) or channels not in (1, 3) or count < 1:
        raise CodecError(f"corrupt neural-codec stream: header does not match its {len(data)} bytes")
    check_size(width, height, "neural-codec stream")
    padded = [n + -n % STRIDE for n in (height, width)]
    if not all(1 <= n <= p // MIN_LATENT_STRIDE for n, p in zip((lh, lw), padded)):
        raise CodecError(f"corrupt neural-codec stream: a {lh}x{lw} latent cannot code a {height}x{width} picture")
    return model_id, quality, crc, (height, width), channels, (lh, lw), strings


class NeuralCodec(BaseCodec):
    """A CompressAI model as a codec.

    ``NeuralCodec(quality=q)`` uses the codec shipped with the plugin (:data:`SHIPPED_MODEL`,
    one model per quality, no network needed); ``model=zoo_name`` pretrained CompressAI zoo
    weights (downloaded on first use); ``checkpoint=path`` a local file; ``net=module`` an
    already built model. Streams decode with whichever shipped or zoo model their header names.
    """

    name = "neural"
    rate_scale = RateScale("quality index", "quality", 1, 8, finer_when_higher=True, defaults=(1, 3, 5))  # CompressAI's zoo indices
    # training codes crops with the shipped codec, at the qualities it ships (RGB: no chroma
    # subsampling; mostly colour); a 128-px crop takes 22 ms to code, so 256-px crops are pooled
    degradation = Degradation(1, 5, step=2, grid_step=2, grey_fraction=0.1, full_chroma_fraction=None, reuse=8)

    def __init__(
        self,
        model: Optional[str] = None,
        quality: Optional[int] = None,
        metric: str = DEFAULT_METRIC,
        checkpoint: Optional[str] = None,
        net=None,
    ):
        if checkpoint is not None and net is not None:
            raise CodecError("pass either checkpoint= or net=, not both")
        if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
            raise CodecError(f"checkpoint= must be a path, got {type(checkpoint).__name__}")
        if net is not None and not all(callable(getattr(net, m, None)) for m in ("compress", "decompress", "state_dict")):
            raise CodecError(f"net= must be a CompressAI model (with compress and decompress), got {type(net).__name__}")
        for what, text in (("model", model), ("metric", metric)):
            if text is not None and not (isinstance(text, str) and text.isascii() and 0 < len(text) < 128):
                raise CodecError(f"{what}= must be a short ASCII name (it is written into every stream), got {text!r:.60}")
        if quality is not None:
            quality = self.rate_scale.setting("neural quality index", quality)
        self.metric = metric
        self._nets: Dict[Tuple[str, int], object] = {}
        self._fixed = None  # (net, model id, quality) when the codec holds one model
        if net is not None:
            self._fixed = (_prepare(net), model or type(net).__name__, quality)
        elif checkpoint is not None:
            net, arch, stored_quality = _load_checkpoint(os.fspath(checkpoint), model)
            self._fixed = (net, arch, quality if quality is not None else stored_quality)
        self.model = self._fixed[1] if self._fixed else (model or DEFAULT_MODEL)
        self.quality = self._fixed[2] if self._fixed else (quality or DEFAULT_QUALITY)

    def _zoo_cached(self) -> bool:
        import torch.hub

        url = _zoo_url(self.model, self.metric, self.quality)
        return os.path.exists(os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url)))

    def can_encode(self) -> bool:
        """True with a local model, the shipped codec at this quality, or zoo weights already in
        the torch hub cache."""
        if self.model == SHIPPED_MODEL and self._fixed is None:
            return (SHIPPED_CODEC / f"q{self.quality}.pt").is_file()
        try:
            return self._fixed is not None or self._zoo_cached()
        except (ImportError, CodecError):
            return False

    def can_decode(self) -> bool:
        return self.can_encode()

    def _net(self, model_id: str, quality: int, crc: Optional[int] = None):
        """The model for a stream: this codec's own, or the zoo model its header names; with
        ``crc``, refused unless its weights are the ones that made the stream."""
        if self._fixed is not None:
            net, held = self._fixed[0], f"{self._fixed[1]!r} quality {self._fixed[2]}"
        elif model_id == SHIPPED_MODEL:
            if quality not in self._nets:
                self._nets[quality] = _load_shipped(quality)
            net, held = self._nets[quality], "the shipped codec's"
        else:
            zoo_name, _, metric = model_id.partition("/")
            key = (model_id, quality)
            if key not in self._nets:
                self._nets[key] = _load_zoo(zoo_name, metric or self.metric, quality)
            net, held = self._nets[key], "the CompressAI zoo's"
        if crc is not None and fingerprint(net) != crc:
            raise CodecError(f"the stream was made by {model_id!r} quality {quality} with other weights than {held}")
        return net

    def encode(self, image: ImageLike, quality: Optional[int] = None) -> bytes:
        """Compress at zoo quality index ``quality`` (a fixed model only accepts its own)."""
        import torch
        import torch.nn.functional as F

        pixels = as_uint8_array(image)
        if quality is not None:
            quality = self.rate_scale.setting("neural quality index", quality)
        if self._fixed is not None:
            model_id = self._fixed[1]
            if quality is not None and quality != self._fixed[2]:
                raise CodecError(f"this codec holds one model ({model_id!r}, quality {self._fixed[2]}); got quality={quality}")
            quality = self._fixed[2]
        else:
            model_id = self.model if self.model == SHIPPED_MODEL else f"{self.model}/{self.metric}"
            quality = self.quality if quality is None else quality
        net = self._net(model_id, quality or 0)
        height, width = pixels.shape[:2]
        rgb = np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels
        x = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        x = F.pad(x, (0, -width % STRIDE, 0, -height % STRIDE), mode="replicate")
        with torch.no_grad():
            out = net.compress(x)
        strings = [group[0] for group in out["strings"]]
        latent = tuple(int(n) for n in out["shape"])
        channels = 1 if pixels.ndim == 2 else 3
        return _pack(model_id, quality or 0, fingerprint(net), (height, width), channels, latent, strings)

    def decode(self, data: bytes) -> Decoded:
        import torch

        model_id, quality, crc, (height, width), channels, latent, strings = _unpack(as_bytes(data, "neural data"))
        net = self._net(model_id, quality, crc)
        synthesised = []  # the decoded latent, as the synthesis transform g_s receives it
        hook = net.g_s.register_forward_pre_hook(lambda _, args: synthesised.append(args[0]))
        try:
            with torch.no_grad():
                x_hat = net.decompress([[s] for s in strings], list(latent))["x_hat"]
        except Exception as exc:  # compressai and torch raise many types on latents that do not fit the model
            raise CodecError(f"corrupt neural-codec stream: its latents do not decode with {model_id!r}: {exc}") from None
        finally:
            hook.remove()
        if x_hat.ndim != 4 or x_hat.shape[-2] < height or x_hat.shape[-1] < width:
            raise CodecError(
                f"corrupt neural-codec stream: its latents decode to {tuple(x_hat.shape[-2:])}, not {height}x{width}"
            )
        x_hat = x_hat[0, :, :height, :width].clamp(0, 1)
        if channels == 1:
            x_hat = x_hat.mean(dim=0)
        else:
            x_hat = x_hat.permute(1, 2, 0)
        image = (x_hat * 255.0).round().to(torch.uint8).numpy()
        y_hat = synthesised[0][0].float().numpy() if synthesised else None
        return Decoded(image, RateInfo(self.name, quality or None, len(data) * 8.0 / (height * width)), y_hat)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data[:4] == MAGIC


register("neural", NeuralCodec)
