"""Does ``torch.compile`` pay? The realism-0 call on kodim01 (JPEG QF 10, colour) and the
training step (batch 16 of 128 px, AdamW), each eager and compiled, in bf16 autocast, medians
of ``--runs`` runs (default 5; the README's figures used 9) in one process, with the one-off
compile time and the output difference.

    python -m benchmarks.torch_compile [--runs 9]   # writes benchmarks/results/torch-compile.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from .command import run_command
from .environment import describe
from .options import integer
from .results import RESULTS, write_json
from .shared import shared_path
from .timing import jpeg_case

SCHEMA = "dirac.benchmarks.torch_compile/1"


def _median(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: allocations, autotuning
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _compiled(fn: Callable[[], object], compile_model: Callable[[], None], runs: int) -> tuple:
    """(first call seconds, median seconds) once ``compile_model`` has swapped in the compiled network."""
    compile_model()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, _median(fn, runs)


def measure(args) -> dict:
    import torch

    from dirac import Enhancer
    from dirac.core.model import ResidualDenoiser
    from dirac.core.weights import default_weights

    # training first: measured after the inference case, the eager step ran up to 1.3x slower
    torch.manual_seed(0)
    folder = Path(args.weights) if args.weights else default_weights("jpeg")
    inputs = torch.randn(16, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    target, timesteps, rates = torch.randn(16, 3, 128, 128), torch.randint(1, 700, (16,)), torch.rand(16)

    def trainable():
        net = ResidualDenoiser.from_pretrained(str(folder / "model")).train().to(memory_format=torch.channels_last)
        return net, torch.optim.AdamW(net.parameters(), lr=1e-6)

    def step(net, optimizer):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = (net(inputs, inputs, timesteps, rates).float() - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    net, optimizer = trainable()
    eager = _median(lambda: step(net, optimizer), args.runs)
    net, optimizer = trainable()
    holder = {"net": net}
    first, compiled = _compiled(lambda: step(holder["net"], optimizer), lambda: holder.update(net=torch.compile(net)), args.runs)
    rows = [{"case": "training step, batch 16 of 128 px, AdamW", "eager_s": eager, "compiled_s": compiled,
                 "ratio": compiled / eager, "first_compiled_call_s": first, "max_pixel_difference": None}]
    case = jpeg_case(shared_path("datasets", "kodak", "kodim01.png"), 10)
    enhancer = Enhancer.from_pretrained(args.weights)
    reference = enhancer.enhance(case.decoded, case.native_rate, precision="bf16")
    eager = _median(lambda: enhancer.enhance(case.decoded, case.native_rate, precision="bf16"), args.runs)
    model = enhancer.pipeline.model

    def compile_inference():
        model.forward = torch.compile(model.forward, dynamic=False)

    first, compiled = _compiled(lambda: enhancer.enhance(case.decoded, case.native_rate, precision="bf16"), compile_inference, args.runs)
    difference = int(np.abs(enhancer.enhance(case.decoded, case.native_rate, precision="bf16").astype(int) - reference).max())
    rows.append({"case": "realism 0, kodim01 colour 768x512", "eager_s": eager, "compiled_s": compiled, "ratio": compiled / eager,
             "first_compiled_call_s": first, "max_pixel_difference": difference})

    for row in rows:
        print(f"{row['case']}: eager {row['eager_s']:.3f} s, compiled {row['compiled_s']:.3f} s ({row['ratio']:.2f}x) "
              f"after a {row['first_compiled_call_s']:.1f} s first call")
    return {"schema": SCHEMA, "settings": {"runs": args.runs, "precision": "bf16", "weights": str(folder)},
            "environment": describe(), "rows": rows}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_compile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=integer, default=5, help="timed runs per case (median)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    return run_command(lambda: [write_json(args.out / "torch-compile.json", measure(args))])


if __name__ == "__main__":
    sys.exit(main())
