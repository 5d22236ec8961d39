"""The page's own limits (src/inference/serve.py): a request body is capped at what a review of
max_review_chars needs and refused with 413 before it is read, uploads are off, and
--serve_port / --serve_host mistakes are one line each. One real app.py, started as
`make serve` starts it (the shipped model through onnxruntime), serves this file's tests;
they talk to it over plain HTTP."""
import http.client
import json
import select
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, serving

MiB = 1 << 20


def _rss_mib(pid):
    """The process's resident memory (VmRSS of /proc/PID/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """app.py on the shipped model through onnxruntime (`make serve`), on a free loopback
    port, its uploads folder (GRADIO_TEMP_DIR) a fresh one: (port, server process, that
    folder, the review limit from model/config.yaml)."""
    from src.core.config import load_config
    from src.inference.predict_io import with_run_config
    uploads = tmp_path_factory.mktemp("gradio-uploads")
    with serving(["app.py", "--backend", "onnxruntime"], GRADIO_TEMP_DIR=str(uploads)) as \
            (port, server):
        yield port, server, uploads, load_config(with_run_config([])).max_review_chars


def _post(port, path, body, content_type="application/json", timeout=60):
    """POST body whole, as a plain client does: (status, text), or (None, the error) when
    the server closed the connection before the client had sent it all."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (BrokenPipeError, ConnectionResetError) as err:
        return None, repr(err)
    finally:
        conn.close()


def _classify(port, text):
    """The page's API (/gradio_api/call/classify), as JSON with every non-ASCII character
    escaped (json.dumps' default: a character outside the BMP is 12 bytes): (status, the
    result's SSE text or the refusal)."""
    body = json.dumps({"data": [text]}).encode()
    status, answer = _post(port, "/gradio_api/call/classify", body)
    if status != 200:
        return status, answer
    event = json.loads(answer)["event_id"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/call/classify/{event}",
                                timeout=120) as stream:
        return 200, stream.read().decode()


def test_an_oversized_body_is_refused_on_its_headers(page):
    """50 MB announced: the answer is 413 before a byte of the body is sent."""
    port, *_ = page
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", "/gradio_api/call/classify")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(50 * MiB))
        conn.endheaders()
        response = conn.getresponse()   # today's page waits for the body: a timeout
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 413, (response.status, text)
    assert "limit" in text and "characters" in text, text


def test_a_chunked_body_is_refused_once_it_passes_the_limit(page):
    """No Content-Length (chunked): the page reads up to its limit, then answers 413."""
    port, *_ = page
    chunk = b"x" * (64 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /gradio_api/call/classify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())
        sent = 0
        while sent < 50 * MiB and not select.select([sock], [], [], 0.05)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert sent < 5 * MiB, f"the page read {sent:,} bytes before it answered"


def test_a_longest_review_in_the_widest_escaping_still_fits(page):
    """max_review_chars characters outside the BMP, each escaped to 12 bytes of JSON: the
    page answers it (the cap is above what the page itself accepts)."""
    port, _, _, max_chars = page
    status, answer = _classify(port, "\U0001F600" * max_chars)
    assert status == 200, answer[:300]
    assert "event: complete" in answer, answer[:300]


def test_twelve_50mb_bodies_leave_no_memory_behind(page):
    """The issue's probe: twelve 50 MB JSON bodies (a 50 MB review each) to the page's API.
    Each is refused (413, or the connection closed while the client still sent); the
    server's resident memory stays where it was (today: +800 MB, never given back), and the
    page still answers a review afterwards."""
    port, server, *_ = page
    _classify(port, "A fine film.")  # the first request's one-off allocations, before measuring
    before = _rss_mib(server.pid)
    body = json.dumps({"data": ["x" * (50 * MiB)]}).encode()
    answers = [_post(port, "/gradio_api/call/classify", body) for _ in range(12)]
    assert all(status in (413, None) for status, _ in answers), answers
    time.sleep(1)
    after = _rss_mib(server.pid)
    print(f"server RSS: {before:.0f} MiB before, {after:.0f} MiB after twelve 50 MB bodies")
    assert after - before < 50, f"RSS grew from {before:.0f} to {after:.0f} MiB"
    status, answer = _classify(port, "A wonderful, moving film.")
    assert status == 200 and "event: complete" in answer, answer[:300]


def _multipart(name, content):
    boundary = "limits-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() \
        + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("size", [1024, 5 * MiB])
def test_uploads_are_refused(page, size):
    """The page takes no files: /gradio_api/upload refuses a small one and a large one, and
    nothing lands in Gradio's uploads folder."""
    port, _, uploads, _ = page
    marker = b"limits-test-upload-" + str(size).encode()
    body, content_type = _multipart("review.txt", marker + b"x" * (size - len(marker)))
    status, text = _post(port, "/gradio_api/upload", body, content_type)
    assert status in (403, 413, None), (status, text[:300])
    kept = [path for path in uploads.rglob("*") if path.is_file()
            and marker in path.read_bytes()[:len(marker)]]
    assert not kept, kept


def _app_error(capsys, *words):
    """app.py's main as its last line runs it: (exit code, its `error:` lines)."""
    from app import main as app
    from src.core.cli import run_main
    from src.inference.predict_io import with_run_config
    with pytest.raises(SystemExit) as stop:
        run_main(app, with_run_config(list(words)))
    err = capsys.readouterr().err
    return stop.value.code, [line for line in err.splitlines() if line.startswith("error:")], err


@pytest.mark.parametrize("port", ["99999", "65536", "0"])
def test_a_port_outside_1_to_65535_is_one_line(capsys, port):
    code, errors, err = _app_error(capsys, "--serve_port", port)
    assert code == 2 and err.strip().splitlines() == errors and len(errors) == 1, err
    assert "serve_port" in errors[0] and "65535" in errors[0], errors
    assert "Traceback" not in err, err


def test_an_unresolvable_host_is_blamed_on_the_host(capsys):
    code, errors, err = _app_error(capsys, "--serve_host", "no-such-host.invalid",
                                   "--serve_port", str(free_port()))
    assert code == 2 and err.strip().splitlines() == errors and len(errors) == 1, err
    assert "no-such-host.invalid" in errors[0] and "cannot be resolved" in errors[0], errors
    assert "--serve_port" not in errors[0], errors


def test_an_address_of_another_machine_is_blamed_on_the_host(capsys):
    """192.0.2.1 (TEST-NET-1, RFC 5737) resolves but is no address of this machine."""
    code, errors, err = _app_error(capsys, "--backend", "onnxruntime", "--serve_host",
                                   "192.0.2.1", "--serve_port", str(free_port()))
    assert code == 2 and err.strip().splitlines() == errors and len(errors) == 1, err
    assert "192.0.2.1" in errors[0] and "not an address of this machine" in errors[0], errors
    assert "--serve_port" not in errors[0], errors
