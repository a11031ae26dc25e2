"""The README's Python examples run as written (against tiny weights, in a scratch folder)."""
import re
import shutil
from pathlib import Path

import numpy as np

from conftest import encode_video, make_tiny_enhancer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch, smooth_rgb, tiny_enhancer):
    weights = tmp_path / "weights"
    tiny_enhancer.pipeline.save_pretrained(weights / "jpeg")
    make_tiny_enhancer("hevc", stats_rates=(22.0, 37.0, 47.0)).pipeline.save_pretrained(weights / "hevc")
    monkeypatch.setenv("DIRAC_WEIGHTS", str(weights))
    (tmp_path / "examples").mkdir()
    shutil.copy(README.parent / "examples" / "astronaut_q12.jpg", tmp_path / "examples")
    (tmp_path / "clip.mp4").write_bytes(encode_video([np.roll(smooth_rgb, 4 * i, axis=1) for i in range(2)], "mp4"))
    monkeypatch.chdir(tmp_path)
    namespace = {"image": smooth_rgb}  # the base-codec example encodes "an image you have"
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "frame_0001.png").exists()
    assert all(r.shape == (512, 512, 3) for r in namespace["results"])


def test_threads_share_one_enhancer_safely(tiny_enhancer, textured_rgb):
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(q, r) for q in (10, 40) for r in (0.0, 0.5)] * 2
    run = lambda job: tiny_enhancer.enhance(textured_rgb, job[0], realism=job[1], steps=4, seed=3)  # noqa: E731
    expected = [run(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        assert all(np.array_equal(a, b) for a, b in zip(pool.map(run, jobs), expected))
