"""``dirac view``: dial-stop ordering, the loopback-only HTTP server, the command's start and
Ctrl-C, and the page end to end in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium; skipped when they are not installed)."""
from __future__ import annotations

import _thread
import base64
import io
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import base_codecs
from base_codecs import DiracError
from dirac import viewer
from dirac.commands import build_parser
from dirac.commands import view as view_command
from dirac.commands.view import parse_stops

from bad_inputs import png_chunks, saved

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STOPS = [0.0, 0.25, 0.5, 1.0]


@pytest.fixture
def coded(tmp_path, textured_rgb):
    """A quality-20 JPEG of ``textured_rgb`` and its original saved as PNG."""
    jpeg, original = tmp_path / "picture.jpg", tmp_path / "original.png"
    jpeg.write_bytes(base_codecs.get_codec("jpeg").encode(textured_rgb, quality=20))
    Image.fromarray(textured_rgb).save(original)
    return jpeg, original


def view_args(image, weights, *extra):
    return build_parser().parse_args(["view", str(image), "--weights", str(weights), *extra])


@pytest.fixture
def served(coded, tiny_weights, textured_rgb):
    """A running viewer (in this process, on a free port) with a reference, and its session."""
    from dirac.enhancer import Enhancer

    enhancer = Enhancer.from_pretrained(tiny_weights)
    decoded = enhancer.decode(coded[0].read_bytes())
    session = viewer.DialSession(enhancer, decoded, coded[0].name, stops=STOPS, reference=textured_rgb)
    server = viewer.ViewerServer(session)
    session.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, session
    server.shutdown()
    server.server_close()
    session.close()


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def wait_all_ready(server, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(get(server.url + "api/status")[2])
        if all(stop["state"] == "ready" for stop in status["stops"]):
            return status
        time.sleep(0.1)
    raise AssertionError(f"stops not ready after {timeout} s: {status['stops']}")


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_coverage_order_is_cheapest_first_then_spread():
    assert viewer.coverage_order([0, 0.25, 0.5, 0.75, 1], [1, 5, 10, 15, 20]) == [0, 4, 2, 1, 3]
    assert viewer.coverage_order([0.5], [10]) == [0]


@pytest.mark.parametrize("text", ["", "0,x", "0,1.5", "-0.1", " , "])
def test_bad_stops_are_refused(text):
    with pytest.raises(DiracError, match="--stops"):
        parse_stops(text)


def test_stops_are_sorted_without_repeats():
    assert parse_stops("1, 0,0.5,0.50") == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "10.0.0.1", "localhost", "::1", "example.org"])
def test_server_refuses_non_loopback_hosts(host):
    with pytest.raises(DiracError, match="loopback"):
        viewer.ViewerServer(None, host=host)


def test_http_endpoints(served, textured_rgb, psnr):
    server, session = served
    assert server.server_address[0] == "127.0.0.1"
    status = wait_all_ready(server)
    assert status["family"] == "jpeg" and status["rate"] == 20 and status["bpp"] > 0
    assert status["base_psnr"] == pytest.approx(psnr(session.decoded.image, textured_rgb), abs=1e-3)
    assert [s["realism"] for s in status["stops"]] == STOPS
    assert [s["calls"] for s in status["stops"]] == [1, 5, 10, 20]

    code, headers, body = get(server.url + "base.png")
    assert code == 200 and headers["Content-Type"] == "image/png"
    assert np.array_equal(png_pixels(body), session.decoded.image)
    stop = png_pixels(get(server.url + "stop/3.png")[2])
    assert status["stops"][3]["psnr"] == pytest.approx(psnr(stop, textured_rgb), abs=1e-3)

    code, headers, page = get(server.url)
    assert code == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    assert b"http://" not in page and b"https://" not in page  # nothing from the network
    for path, expected in [("stop/4.png", 404), ("nothing", 404), ("stop/" + "9" * 5000 + ".png", 404)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            get(server.url + path)
        assert err.value.code == expected
    for host in (f"attacker.example:{server.server_address[1]}", "[::1"):  # a rebound name pointing at 127.0.0.1; a malformed one
        with pytest.raises(urllib.error.HTTPError) as err:
            get(server.url + "api/status", headers={"Host": host})
        assert err.value.code == 403


def test_stop_not_ready_is_503_and_can_be_prioritised(coded, tiny_weights):
    from dirac.enhancer import Enhancer

    enhancer = Enhancer.from_pretrained(tiny_weights)
    session = viewer.DialSession(enhancer, enhancer.decode(coded[0].read_bytes()), "x.jpg", stops=STOPS)
    server = viewer.ViewerServer(session)  # the session is never started: nothing gets computed
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            get(server.url + "stop/1.png")
        assert err.value.code == 503
        request = urllib.request.Request(server.url + "api/want/1", method="POST")
        assert urllib.request.urlopen(request, timeout=10).status == 204
        assert session.status()["queue"][0] == 1
    finally:
        server.shutdown()
        server.server_close()


def test_cmd_view_serves_opens_the_page_and_stops_on_ctrl_c(coded, tiny_weights, monkeypatch, capsys):
    answers = []

    def open_page(url):  # instead of a desktop browser: fetch the status, then press Ctrl-C
        def visit():
            try:
                answers.append(json.loads(get(url + "api/status")[2]))
            finally:  # a failed fetch must not leave the server running forever
                _thread.interrupt_main()

        threading.Thread(target=visit, daemon=True).start()

    monkeypatch.setattr(view_command.webbrowser, "open", open_page)
    # interrupt_main does nothing where SIGINT is ignored, as in a shell's background job
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    args = view_args(coded[0], tiny_weights, "--stops", "0,1", "--rate", "30")
    try:
        args.func(args)  # returns once interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
    out, err = capsys.readouterr()
    assert out.startswith("dirac view: http://127.0.0.1:") and "stopped" in err
    assert answers[0]["rate"] == 30 and answers[0]["reference"] is False
    assert [s["realism"] for s in answers[0]["stops"]] == [0, 1]


@pytest.mark.parametrize("problem", ["missing", "png", "stops", "reference", "reference-bomb", "reference-corrupt",
                                     "rate", "port", "seed", "steps", "truncated"])
def test_cmd_view_bad_input(problem, coded, tiny_weights, tmp_path):
    image, extra = coded[0], []
    if problem == "missing":
        image = tmp_path / "absent.jpg"
    elif problem == "png":
        image = coded[1]
    elif problem == "stops":
        extra = ["--stops", "0,2"]
    elif problem == "reference":
        Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
        extra = ["--reference", str(tmp_path / "small.png")]
    elif problem.startswith("reference-"):
        bomb = png_chunks(100000, 100000, 8, 2, b"\x00" * 64)
        (tmp_path / "ref.png").write_bytes(bomb if problem == "reference-bomb" else saved(Image.new("RGB", (64, 64)), "PNG")[:60])
        extra = ["--reference", str(tmp_path / "ref.png")]
    elif problem == "rate":
        extra = ["--rate", "500"]
    elif problem == "seed":
        extra = ["--seed", "-1"]
    elif problem == "steps":
        extra = ["--steps", "1000"]
    elif problem == "truncated":
        image = tmp_path / "cut.jpg"
        image.write_bytes(coded[0].read_bytes()[:300])
    else:
        extra = ["--port", "70000"]
    args = view_args(image, tiny_weights, "--no-browser", *extra)
    with pytest.raises(DiracError) as error:
        args.func(args)
    if problem.startswith("reference-"):
        assert str(error.value).startswith(f"--reference {tmp_path / 'ref.png'}: ")
        assert ("decompression-bomb" if problem == "reference-bomb" else "corrupt or truncated") in str(error.value)
    expected = {"seed": "seed must be an integer", "steps": "steps must be at most 500", "truncated": f"{image}: corrupt or truncated JPEG"}
    assert expected.get(problem, "") in str(error.value)


# --- the page in a real browser -------------------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser test needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,900", "--force-device-scale-factor=1",
        "--force-color-profile=srgb", f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no Selenium Manager
    yield driver
    driver.quit()


READ_IMG = """const img = document.getElementById(arguments[0]);
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
canvas.getContext('2d').drawImage(img, 0, 0);
return canvas.toDataURL('image/png');"""


def img_pixels(driver, element_id) -> np.ndarray:
    """The picture an <img> holds, read back through a canvas."""
    data_url = driver.execute_script(READ_IMG, element_id)
    return png_pixels(base64.b64decode(data_url.split(",", 1)[1]))


def on_screen(element, size) -> np.ndarray:
    """What the element shows, sampled once per image pixel (the page zooms by whole pixels)."""
    shot = png_pixels(element.screenshot_as_png)
    scale = shot.shape[1] / size[1]
    assert scale == int(scale) and shot.shape[0] == size[0] * scale, (shot.shape, size)
    step = int(scale)
    return shot[step // 2 :: step, step // 2 :: step]


def test_page_dial_wipe_and_side_by_side(served, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    server, session = served
    driver, wait = browser, WebDriverWait(browser, 30)
    base = session.decoded.image
    h, w = base.shape[:2]
    driver.get(server.url)
    wait.until(lambda d: d.find_element(By.ID, "progress").text.startswith(f"{len(STOPS)} of {len(STOPS)} stops ready"))
    status = json.loads(get(server.url + "api/status")[2])
    stops = [png_pixels(get(server.url + f"stop/{i}.png")[2]) for i in range(len(STOPS))]
    assert all(np.abs(s.astype(int) - base).mean() > 1 for s in stops)

    facts = driver.find_element(By.ID, "facts").text
    assert f"{status['bpp']:.3f} bpp" in facts and "quality 20" in facts
    assert f"base decode PSNR {status['base_psnr']:.2f} dB" in facts

    def shows(index):
        wait.until(lambda d: d.execute_script(
            "const e = document.getElementById('enh'); return e.dataset.stop === arguments[0] && e.complete", str(index)))
        assert np.array_equal(img_pixels(driver, "enh"), stops[index])
        readout = driver.find_element(By.ID, "readout").text
        assert readout.startswith(f"Realism {STOPS[index]:g} ·") and f"PSNR {status['stops'][index]['psnr']:.2f} dB" in readout

    shows(0)
    dial = driver.find_element(By.ID, "dial")
    ActionChains(driver).move_to_element_with_offset(dial, dial.size["width"] // 2 - 4, 0).click().perform()
    shows(3)  # a click near the right end snaps to the last stop
    assert dial.get_attribute("value") == "1"
    dial.send_keys(Keys.ARROW_LEFT)
    shows(2)
    dial.send_keys(Keys.HOME)
    shows(0)
    driver.find_elements(By.CSS_SELECTOR, "#ticks .tick")[1].click()
    shows(1)
    assert not np.array_equal(stops[0], stops[1])

    # wipe: base decode left of the divider, the enhanced stop right of it
    frame = driver.find_element(By.ID, "frame")
    rows = slice(h // 2, h)  # below the captions
    seen = on_screen(frame, (h, w))
    assert np.abs(seen[rows, : w * 2 // 5].astype(int) - base[rows, : w * 2 // 5]).max() <= 2
    assert np.abs(seen[rows, w * 3 // 5 :].astype(int) - stops[1][rows, w * 3 // 5 :]).max() <= 2
    ActionChains(driver).move_to_element(frame).click_and_hold().move_by_offset(-frame.size["width"] // 4, 0).release().perform()
    assert abs(int(driver.find_element(By.ID, "divider").get_attribute("aria-valuenow")) - 25) <= 1
    seen = on_screen(frame, (h, w))
    middle = slice(w * 3 // 10, w * 9 // 20)  # base before the drag, enhanced after
    assert np.abs(seen[rows, middle].astype(int) - stops[1][rows, middle]).max() <= 2
    driver.save_screenshot(str(tmp_path / "viewer_wipe.png"))

    # side by side: both whole pictures, base decode on the left
    driver.find_element(By.ID, "mode-side").click()
    base_box = driver.find_element(By.ID, "base").rect
    enh_box = driver.find_element(By.ID, "enh").rect
    assert base_box["x"] + base_box["width"] <= enh_box["x"] and base_box["y"] == enh_box["y"]
    assert np.abs(on_screen(driver.find_element(By.ID, "base"), (h, w)).astype(int) - base).max() <= 2
    assert np.abs(on_screen(driver.find_element(By.ID, "enh"), (h, w)).astype(int) - stops[1]).max() <= 2
    shot = tmp_path / "viewer_side.png"
    driver.save_screenshot(str(shot))

    for path in (tmp_path / "viewer_wipe.png", shot):
        pixels = png_pixels(path.read_bytes())
        assert pixels.shape[1] == 1280 and pixels.shape[0] > 600  # the window, less its frame
        assert path.stat().st_size > 20_000 and pixels.std() > 20  # not blank
    origin = server.url.rstrip("/")
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith((origin, "blob:")) for url in fetched), fetched
