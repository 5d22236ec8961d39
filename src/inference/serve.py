"""The Gradio page: type a review, get Positive/Negative with probabilities and the words
that decided (src/inference/explanations.py, by config.explain_method; the page says which).

Shows the model's name and its test accuracy (eval.json of the run, when eval.py wrote one),
binds config.serve_host (127.0.0.1 unless told otherwise), refuses reviews longer than
config.max_review_chars, and runs every request through Gradio's queue, which batches
concurrent requests into one forward pass of the network. Gradio sets no size limits of its
own: RequestLimits refuses a request body longer than a review needs (413, before it is read)
and the upload routes (the page takes no files).
"""
import errno
import json
import logging
import os
import socket
import sys
import threading

from ..core.version import __version__
from ..core.errors import UserError
from .explanations import explain, method_for
from .predictor import load_predictor
from ..core.run_folder import EVAL, run_folder

__all__ = ["build_page", "model_summary", "explanation_summary", "classify_batch", "highlighted",
           "serve", "max_request_bytes", "RequestLimits", "EXAMPLES"]

EXAMPLES = [
    "One of the best films I have seen in years. The acting is superb, the story moving and "
    "the ending stayed with me for days.",
    "A complete waste of two hours. The plot makes no sense, the dialogue is wooden and I "
    "nearly fell asleep.",
    "It had a slow start, but the second half was gripping and the lead actress was "
    "wonderful.",
    "I wanted to like it, but it was boring, predictable and far too long.",
]


def model_summary(config, predictor):
    """One Markdown line: the model's name, its shape, if known its test accuracy, and the
    project's version."""
    shape = (f"{'Bi' if config.bidirectional else ''}LSTM {config.num_layers}x"
             f"{config.num_hiddens}, {config.pooling} pooling, vocabulary "
             f"{len(predictor.vocab):,}")
    line = f"**Model:** `{predictor.name}` ({shape})"
    eval_file = run_folder(config) / EVAL
    try:
        scores = json.loads(eval_file.read_text(encoding="utf-8"))
        line += (f" · **test accuracy:** {100 * scores['accuracy']:.1f} % on "
                 f"{scores['reviews']} reviews")
        quartiles = scores.get("accuracy_by_length_quartile")
        if quartiles:  # the shipped model's card figures (scripts/ship_model.py)
            line += (" · by length quartile, shortest first: " +
                     " / ".join(f"{100 * acc:.1f}" for acc in quartiles) + " %")
        if scores.get("recipe"):
            line += f" · recipe `{scores['recipe']}` (MODEL_CARD.md)"
    except (OSError, ValueError, KeyError, TypeError):
        line += " · test accuracy: not measured yet (run eval.py)"
    return line + f" · lstm-sentiment {__version__}"


def highlighted(explanation, text):
    """HighlightedText's value: the text as typed, cut where each token starts, each piece
    with its token's score scaled into [-1, 1] (text before the first token: no score).
    Where the tokens cannot be found in the text, the tokens themselves."""
    peak = max((abs(score) for score in explanation.scores), default=0.0) or 1.0
    scores = [round(score / peak, 3) for score in explanation.scores]
    starts = _token_starts(text, explanation.tokens)
    if starts is None:
        return [(f"{token} ", score) for token, score in zip(explanation.tokens, scores)]
    pieces = [(text[:starts[0]], None)] if starts and starts[0] else []
    ends = starts[1:] + [len(text)]
    return pieces + [(text[start:end], score) for start, end, score in
                     zip(starts, ends, scores)]


def _token_starts(text, tokens):
    """Where each token starts in text (the tokenizer lower-cases, drops markup and splits
    contractions, so each token is found after the previous one), or None."""
    lowered, at, starts = text.lower(), 0, []
    if len(lowered) != len(text):
        return None
    for token in tokens:
        found = lowered.find(token, at)
        if found < 0:
            return None
        starts.append(found)
        at = found + len(token)
    return starts


METHOD_TEXT = {"decomposition": "the colours split the difference between the two labels' "
                                  "scores over the words, following it back through the network",
               "occlusion": "the colours show how much the label's probability drops when a "
                            "word is deleted"}


def explanation_summary(method, note=""):
    """One Markdown line: which method scores the highlighted words, and why if it is not
    the one asked for (src/inference/explanations.py method_for)."""
    line = f"Why: {METHOD_TEXT[method]}."
    return line + (f" ({note})" if note else "")


def classify_batch(predictor, lock, config, texts, method="decomposition"):
    """Gradio batch function: lists of texts -> ([label confidences], [highlighted words],
    [status messages]); the label and its explanation (by `method`, src/inference/explanations.py) come
    from the same pass."""
    outputs, words, messages = [None] * len(texts), [None] * len(texts), [""] * len(texts)
    valid = []
    for i, text in enumerate(texts):
        text = text or ""
        if not text.strip():
            messages[i] = "Type or paste a review first."
        elif len(text) > config.max_review_chars:
            messages[i] = (f"This review has {len(text):,} characters; the limit is "
                           f"{config.max_review_chars:,}. Shorten it.")
        else:
            valid.append(i)
    if valid:
        chosen = [texts[i] for i in valid]
        with lock:
            reasons = explain(predictor, chosen, config.explain_tokens, method)
        for i, reason in zip(valid, reasons):
            outputs[i] = {name.capitalize(): p for name, p in
                          reason.prediction.probabilities.items()}
            words[i] = highlighted(reason, texts[i])
            messages[i] = verdict_line(reason.prediction, config)
    return outputs, words, messages


def verdict_line(prediction, config):
    """The verdict in words: the neutral band (two classes) or why the model cannot tell."""
    if prediction.reason:
        return f"**Cannot tell:** {prediction.reason}."
    if prediction.verdict in (None, prediction.label) and len(prediction.probabilities) != 2:
        return ""
    p = prediction.probabilities.get("positive", 0.0)
    return (f"**Verdict: {prediction.verdict}** (p(positive) {p:.2f}; neutral from "
            f"{config.neutral_low:.2f} to {config.neutral_high:.2f})")


def build_page(config, predictor):
    """The gr.Blocks page for predictor (not launched)."""
    import gradio as gr
    lock = threading.Lock()
    method, note = method_for(predictor, config.explain_method)

    def classify(texts):
        return classify_batch(predictor, lock, config, texts, method)

    with gr.Blocks(title="LSTM sentiment") as page:
        gr.Markdown("# Review sentiment\nA BiLSTM trained on IMDB reviews and SST sentences "
                    "(MindSpore): positive, negative, neutral or cannot tell.")
        gr.Markdown(model_summary(config, predictor), elem_id="model-info")
        review = gr.Textbox(label="Review", lines=6, max_length=config.max_review_chars,
                            placeholder="Type or paste an English movie review",
                            elem_id="review")
        button = gr.Button("Classify", variant="primary", elem_id="classify")
        label = gr.Label(label="Sentiment", num_top_classes=config.num_classes,
                         elem_id="sentiment")
        words = gr.HighlightedText(label="Why: the words that pushed toward the label (red: "
                                         "toward it, blue: against it)", elem_id="why")
        gr.Markdown(explanation_summary(method, note), elem_id="explain-method")
        status = gr.Markdown(elem_id="status")
        gr.Examples(EXAMPLES, inputs=review)
        # a new text (typed or an example) clears the result of the one before
        review.change(lambda: (None, None, ""), outputs=[label, words, status], queue=False,
                      api_visibility="private")
        batching = {"inputs": review, "outputs": [label, words, status], "batch": True,
                    "max_batch_size": config.batch_size}
        button.click(classify, api_name="classify", **batching)
        review.submit(classify, api_visibility="private", **batching)
    return page


# Gradio's routes that take files (multipart uploads); the page has no file input.
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")


def max_request_bytes(config):
    """The longest request body the page takes: a review of max_review_chars characters,
    each at most 12 bytes of JSON (a character outside the BMP escaped as two \\uXXXX, as
    json.dumps writes it), and 64 KiB for the rest of the request."""
    return 12 * config.max_review_chars + 64 * 1024


class RequestLimits:
    """ASGI middleware for the page's app: a request body over max_bytes is refused with 413,
    by its Content-Length before a byte of it is read, or (chunked) once max_bytes have
    arrived; the upload routes are refused with 403. Without it Gradio reads any body whole
    (twelve 50 MB bodies kept ~800 MB of the server's memory for good) and stores any upload."""

    def __init__(self, app, max_bytes, max_chars):
        self.app, self.max_bytes, self.max_chars = app, max_bytes, max_chars

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith(UPLOAD_ROUTES):
            return await _refuse(send, 403, "this page takes no files")
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await _refuse(send, 400, "Content-Length is not a number")
            if int(length) > self.max_bytes:
                return await _refuse(send, 413, self._over(f"of {int(length):,} bytes "))
            return await self.app(scope, receive, send)
        if b"transfer-encoding" not in headers:  # no body
            return await self.app(scope, receive, send)
        body = bytearray()  # chunked: read up to the limit, then hand the body on whole
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await _refuse(send, 413, self._over(""))
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}
        return await self.app(scope, replay, send)

    def _over(self, size):
        return (f"request body {size}over this page's limit of {self.max_bytes:,} bytes (a "
                f"review of at most {self.max_chars:,} characters)")


async def _refuse(send, status, text):
    """Answer status with text and close the connection (its body is never read)."""
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def resolve_address(host, port):
    """getaddrinfo's first address for binding host:port, or UserError: the host cannot be
    resolved (checked before the model loads; Gradio blamed the port)."""
    host = host or "127.0.0.1"  # as Gradio reads an empty server_name
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as err:
        reason = err.strerror if isinstance(err, socket.gaierror) else str(err)
        raise UserError(f"cannot serve on {host}:{port}: the host '{host}' cannot be resolved "
                        f"({reason}); pass --serve_host with a name or address of this "
                        f"machine, e.g. --serve_host 127.0.0.1") from None


def launch_error(host, port, err):
    """The UserError for a launch that failed with OSError err (Gradio says "Cannot find
    empty port" whatever the cause): binding host:port again tells whether the port is taken
    or the host is no address of this machine."""
    family, kind, proto, _, address = resolve_address(host, port)
    where = f"cannot serve on {host}:{port}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
            reason = str(err).splitlines()[0][:120]
        except OSError as bind_err:
            if bind_err.errno == errno.EADDRNOTAVAIL:
                return UserError(f"{where}: {address[0]} is not an address of this machine; "
                                 f"pass --serve_host with one of its addresses, e.g. "
                                 f"--serve_host 127.0.0.1")
            reason = bind_err.strerror
            if bind_err.errno == errno.EADDRINUSE:
                reason = f"port {port} is in use"
    return UserError(f"{where} ({reason}); pass --serve_port with a free port")


def serve(config, block=True):
    """Load the model (see src.infer.load_predictor) and serve the page.

    Args:
        config: uses serve_host, serve_port, max_review_chars and the model keys.
        block: keep serving until interrupted (False: return the launched page).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    resolve_address(config.serve_host, config.serve_port)
    predictor = load_predictor(config)
    method, note = method_for(predictor, config.explain_method)
    if note:
        print(f"note: {note}", file=sys.stderr, flush=True)
    explain(predictor, [EXAMPLES[0]], config.explain_tokens, method)  # compile before visitors
    page = build_page(config, predictor)
    page.queue(max_size=1024, default_concurrency_limit=1)
    from starlette.middleware import Middleware
    limits = Middleware(RequestLimits, max_bytes=max_request_bytes(config),
                        max_chars=config.max_review_chars)
    # a failed bind is launch_error's one line, not uvicorn's too (a filter: uvicorn sets the
    # logger's level as it starts)
    uvicorn_log, quiet = logging.getLogger("uvicorn.error"), (lambda record: False)
    uvicorn_log.addFilter(quiet)
    try:  # max_file_size=0: Gradio's other multipart routes refuse files too
        page.launch(server_name=config.serve_host, server_port=config.serve_port,
                    prevent_thread_lock=True, quiet=True, ssr_mode=False,
                    app_kwargs={"middleware": [limits]}, max_file_size=0)
    except OSError as err:
        raise launch_error(config.serve_host, config.serve_port, err) from None
    finally:
        uvicorn_log.removeFilter(quiet)
    print(f"serving {predictor.name} on http://{config.serve_host}:{config.serve_port}",
          flush=True)
    if block:
        page.block_thread()
    return page
