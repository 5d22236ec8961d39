"""The Gradio page (src/inference/serve.py, app.py's job, served in this process on the tiny run) in
headless Debian Chromium and through gradio_client; app.py itself as `make serve` starts it,
on the shipped model."""
import contextlib
import dataclasses
import json
import os
import shlex
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from src.inference.predictor import load_predictor
from src.inference.serve import EXAMPLES
from conftest import ROOT, free_port, serving

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MAX_CHARS = 3000


def _wait_until_serving(url, alive, output=lambda: "", seconds=240):
    deadline = time.time() + seconds
    while True:
        assert alive(), f"the page stopped before it served: {output()[-2000:]}"
        try:
            urllib.request.urlopen(url, timeout=5)
            return url
        except OSError:
            assert time.time() < deadline, "the page did not start serving in time"
            time.sleep(0.5)


@contextlib.contextmanager
def _app(command):
    """app.py started as `command` (its words after the interpreter) on a free loopback port;
    yields the page's URL, stops the process afterwards."""
    with serving(command) as (port, _):
        yield f"http://127.0.0.1:{port}/"


class BatchRecorder:
    """A predictor that records how many reviews each logits_and_states() call (the one
    pass of each batch of requests the page formed: src/inference/serve.py classify_batch explains
    them together) held; the rest is the real one. A test may hold the pass: it then waits
    for `open` (set: it goes on at once), and `entered` says one is waiting."""

    def __init__(self, predictor):
        self.predictor, self.batches = predictor, []
        self.open, self.entered = threading.Event(), threading.Event()
        self.open.set()

    def logits_and_states(self, encoded):
        self.batches.append(len(encoded))
        self.entered.set()
        assert self.open.wait(300), "the test never let the held batch go"
        return self.predictor.logits_and_states(encoded)

    def __getattr__(self, name):
        return getattr(self.predictor, name)


def _app_config(*words):
    from src.core.config import load_config
    from src.inference.predict_io import with_run_config
    return load_config(with_run_config(list(words)))  # as app.py reads its command line


@pytest.fixture(scope="module")
def served(trained_run, tiny_eval):
    """src.inference.serve.serve, app.py's whole job, in this process on the tiny run and a free loopback
    port, its predictor recording the batches the page hands it: (URL, BatchRecorder, the
    page's Blocks)."""
    import src.inference.serve
    port = free_port()
    config = _app_config("--run_dir", str(trained_run), "--serve_port", str(port),
                         "--max_review_chars", str(MAX_CHARS))
    recorders = []

    def recording(config):
        recorders.append(BatchRecorder(load_predictor(config)))
        return recorders[-1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(src.inference.serve, "load_predictor", recording)
        page = src.inference.serve.serve(config, block=False)
    try:
        yield _wait_until_serving(f"http://127.0.0.1:{port}/", lambda: True), recorders[0], page
    finally:
        page.close()


@pytest.fixture(scope="module")
def page_url(served):
    return served[0]


@pytest.fixture(scope="module")
def predictor(tiny_config, trained_run):
    return load_predictor(dataclasses.replace(
        tiny_config, checkpoint_file=str(trained_run / "lstm-best.ckpt")))


@pytest.fixture(scope="module")
def client(page_url):
    from gradio_client import Client
    return Client(page_url, verbose=False)


def _listening_addresses(port):
    """Local IPv4 addresses listening on port, from /proc/net/tcp (state 0A = LISTEN)."""
    found = []
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_page_binds_loopback_only(page_url):
    port = int(page_url.rstrip("/").rsplit(":", 1)[1])
    assert _listening_addresses(port) == ["127.0.0.1"]


def _expected(predictor, text):
    prediction = predictor.predict([text])[0]
    return prediction.label.capitalize(), prediction.probabilities


def test_api_returns_the_model_prediction_and_why(client, predictor):
    from src.inference.explanations import explain
    for text in EXAMPLES[:2]:
        label, words, message = client.predict(text, api_name="/classify")
        expected_label, probabilities = _expected(predictor, text)
        verdict = predictor.predict([text])[0].verdict
        assert message.startswith(f"**Verdict: {verdict}** (p(positive) ")
        assert label["label"] == expected_label
        got = {c["label"].lower(): c["confidence"] for c in label["confidences"]}
        assert got == pytest.approx(probabilities, abs=1e-5)
        reason = explain(predictor, [text])[0]
        shown = [(item["token"], item["class_or_confidence"]) for item in words]
        assert "".join(piece for piece, _ in shown) == text        # as typed
        assert [piece.strip()[:len(token)].lower() for (piece, _), token in
                zip(shown, reason.tokens)] == reason.tokens
        peak = max(abs(score) for score in reason.scores)
        assert [score for _, score in shown] == pytest.approx(
            [score / peak for score in reason.scores], abs=1e-3)


def test_the_page_says_which_method_explains(page_url):
    assert any(text.startswith("Why: the colours split the difference between the two labels'")
               for text in _page_texts(page_url)), _page_texts(page_url)


def test_occlusion_stays_available_on_the_page(predictor, tiny_config):
    """classify_batch with --explain_method occlusion: the same labels, occlusion's scores."""
    import threading
    from src.inference.explanations import explain
    from src.inference.serve import classify_batch, explanation_summary
    texts = EXAMPLES[:2]
    outputs, words, messages = classify_batch(predictor, threading.Lock(), tiny_config, texts,
                                              "occlusion")
    for text, output, shown in zip(texts, outputs, words):
        reason = explain(predictor, [text], method="occlusion")[0]
        assert max(output, key=output.get) == reason.label.capitalize()
        peak = max(abs(score) for score in reason.scores)
        assert [score for _, score in shown] == pytest.approx(
            [score / peak for score in reason.scores], abs=1e-3)
    assert explanation_summary("occlusion").startswith("Why: the colours show how much")
    assert "not first_last" in explanation_summary("occlusion", "needs mean pooling, not "
                                                                "first_last")


def test_api_empty_and_oversized_reviews_get_a_message(client):
    label, words, message = client.predict("   ", api_name="/classify")
    assert "Type or paste a review" in message and not label and not words
    label, words, message = client.predict("word " * MAX_CHARS, api_name="/classify")
    assert f"limit is {MAX_CHARS:,}" in message and not label and not words


def test_api_200_concurrent_requests_are_batched_and_all_answered(served, predictor):
    """Gradio's queue hands waiting requests to the network together, up to batch_size at a
    time: served one at a time, the 200 requests would make 200 batches of one. The first
    request's batch is held in the network until the other 199 wait in the queue; they then
    go in full batches, one batch at a time (the page's concurrency limit is 1)."""
    from gradio_client import Client
    url, recorder, page = served
    client = Client(url, verbose=False, max_workers=200)  # all 200 in flight at once
    recorder.batches.clear()
    recorder.entered.clear()
    recorder.open.clear()
    texts = [EXAMPLES[i % len(EXAMPLES)] for i in range(200)]
    try:
        jobs = [client.submit(texts[0], api_name="/classify")]
        assert recorder.entered.wait(120), "the first request never reached the network"
        jobs += [client.submit(text, api_name="/classify") for text in texts[1:]]
        deadline = time.monotonic() + 120
        while len(page._queue) < 199:  # each request joins the queue when it arrives
            assert time.monotonic() < deadline, f"{len(page._queue)} requests queued"
            time.sleep(0.01)
    finally:
        recorder.open.set()
    results = [job.result(timeout=300) for job in jobs]
    client.close()
    for text, (label, words, _) in zip(texts, results):
        assert label["label"] == _expected(predictor, text)[0]
        assert len(words) == len(predictor.encode([text])[0])
    size = recorder.config.batch_size
    assert recorder.batches == [1] + [size] * (199 // size) + [199 % size], recorder.batches


def _browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), \
        "install Debian's chromium and chromium-driver (make browser)"
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not look for a browser online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1200,1000",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
def test_browser_types_a_review_and_reads_the_label_and_the_words(page_url, predictor, tiny_eval, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    review = "What a wonderful, moving film. I loved every minute of it."
    driver = _browser(tmp_path)
    try:
        driver.get(page_url)
        wait = WebDriverWait(driver, 90)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#review textarea"))
        info = driver.find_element(By.CSS_SELECTOR, "#model-info").text
        assert "lstm-best.ckpt" in info
        assert f"{100 * tiny_eval['accuracy']:.1f} %" in info
        box.send_keys(review)
        driver.find_element(By.CSS_SELECTOR, "#classify").click()

        def shown_label(d):
            found = d.find_elements(By.CSS_SELECTOR,
                                    "#sentiment [data-testid='label-output-value']")
            return found[0].text if found and found[0].text else False
        assert wait.until(shown_label) == _expected(predictor, review)[0]

        def highlighted_words(d):
            text = " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, "#why *")
                            if e.text)
            return text if "wonderful" in text else False
        assert "loved" in wait.until(highlighted_words)
        screenshot = tmp_path / "page.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        driver.find_elements(By.CSS_SELECTOR, ".gallery-item, [data-testid='examples'] button,"
                                              " table.examples-table tr, .examples button")[0].click()
        wait.until(lambda d: box.get_attribute("value") == EXAMPLES[0])
        wait.until(lambda d: not shown_label(d) and "loved" not in
                   " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, "#why *")))
    finally:
        driver.quit()


def test_a_busy_port_is_one_clear_error(trained_run, capsys):
    from app import main as app
    from src.core.cli import run_main
    from src.inference.predict_io import with_run_config
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stop:  # what app.py's last line runs
            run_main(app, with_run_config(["--run_dir", str(trained_run), "--serve_port",
                                           str(port)]))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot serve on 127.0.0.1"), err


def _page_texts(url):
    """The values of the page's Markdown blocks, from the config the browser reads."""
    config = json.loads(urllib.request.urlopen(url + "config", timeout=30).read())
    return [c["props"].get("value") or "" for c in config["components"]
            if c.get("type") == "markdown"]


def test_make_serve_serves_the_shipped_model():
    """`make serve` is app.py with no run named: the page must answer with model/ (the
    shipped full-data model, through onnxruntime as the Makefile asks) and show its card."""
    from src.core.run_folder import SHIPPED
    # under `make test` the outer make's MAKEFLAGS would add "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    planned = subprocess.run(["make", "-s", "--no-print-directory", "-n", "serve"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, env=env)
    assert planned.returncode == 0, planned.stderr
    command = shlex.split(planned.stdout.strip().splitlines()[-1])
    assert command[1] == "app.py" and "--run_dir" not in command, command
    shipped = load_predictor(_app_config("--run_dir", str(SHIPPED), *command[2:]))
    assert shipped.name == "model/lstm-best.ckpt (onnxruntime)"
    with _app(command[1:]) as url:
        from gradio_client import Client
        client = Client(url, verbose=False)
        for text in EXAMPLES[:2]:
            label, words, message = client.predict(text, api_name="/classify")
            expected = shipped.predict([text])[0]
            assert message.startswith(f"**Verdict: {expected.verdict}**")
            assert label["label"] == expected.label.capitalize()
            got = {c["label"].lower(): c["confidence"] for c in label["confidences"]}
            assert got == pytest.approx(expected.probabilities, abs=1e-5)
            assert len([w for w in words if w["class_or_confidence"] is not None]) == \
                len(shipped.encode([text])[0])
        info = " ".join(_page_texts(url))
    accuracy = json.loads((SHIPPED / "eval.json").read_text())["accuracy"]
    assert shipped.name in info and f"{100 * accuracy:.1f} % on 25000 reviews" in info, info
    assert "Why: the colours split the difference" in info, info


def test_words_are_highlighted_as_typed_and_an_emoji_selector_is_no_token(predictor):
    """The page shows the review as it was typed ("WOULDN'T", not "would n't"), each piece
    coloured by its token's score; U+FE0F (an emoji's presentation) is not a token."""
    from src.data.text import tokenize
    from src.inference.explanations import explain
    from src.inference.serve import highlighted
    text = "It WOULDN'T end.<br />Loved it \u2764\ufe0f!"
    assert tokenize(text)[-2:] == ["\u2764", "!"]
    reason = explain(predictor, [text])[0]
    pieces = highlighted(reason, text)
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, _ in pieces][:5] == ["It ", "WOULD", "N'T ", "end", ".<br />"]
    assert len([score for _, score in pieces if score is not None]) == len(reason.tokens)
