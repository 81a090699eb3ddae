#!/usr/bin/env python3
"""`gpt serve` driven by the official `openai` Python SDK, end to end.

Trains a tiny character model with the gpt binary, starts `gpt serve` on a free loopback
port, and checks completions and chat (streamed and not), stop strings, n=2, seeds, the
errors as the SDK's exception types, 16 concurrent streams, a client that disconnects
mid-stream and one that disconnects during a non-streaming completion, raw-HTTP refusals (oversized body, malformed JSON, invalid UTF-8, a prompt
longer than the context, a missing key, an unknown route), echo with logprobs, and that SIGTERM
exits 0; then a second server with --max-batch 1 --max-queue 1 --request-timeout 1 refuses a request past its
queue with 503 + Retry-After and cuts a long stream at the timeout. Traffic goes to 127.0.0.1 only; every
call has a timeout. Usage: openai_client.py PATH/TO/gpt
"""
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import urllib.error
import urllib.request

try:
    import openai
except ImportError:
    print("openai_client.py: skipped, the openai package is not installed (pip install openai)")
    sys.exit(0)

GPT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/gpt")
KEY = "e2e-key"
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def expect_error(kind, call, what):
    try:
        call()
    except kind as error:
        check(True, f"{what}: {kind.__name__} ({error.status_code})")
        return
    except Exception as error:  # the wrong exception type is a failure, reported
        check(False, f"{what}: expected {kind.__name__}, got {type(error).__name__}: {error}")
        return
    check(False, f"{what}: expected {kind.__name__}, got no error")


def busy_server(run):
    """A second server with one batch slot, room for one waiting request and a 1 s request timeout: a full queue is
    a 503 with Retry-After (the SDK's InternalServerError), and a long request is cut at its timeout. (The tiny model
    makes 35,000-50,000 tokens/s on one thread here: with a 2 s timeout a quiet machine finished all 100,000 tokens
    before the cut, and the check failed.)"""
    server = subprocess.Popen([GPT, "serve", "--checkpoint", run, "--port", "0", "--threads", "1",
                               "--max-batch", "1", "--max-queue", "1", "--request-timeout", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={k: v for k, v in os.environ.items() if k != "GPT_API_KEY"})
    try:
        base = server.stdout.readline().split()[-1]
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=60)
        long_stream = client.completions.create(model="run", prompt="User:", max_tokens=100000, stream=True)
        first = next(iter(long_stream))  # running now
        waiting = concurrent.futures.ThreadPoolExecutor(1).submit(
            lambda: client.completions.create(model="run", prompt="User:", max_tokens=3))
        time.sleep(0.3)  # queued behind the long one
        try:
            client.completions.create(model="run", prompt="User:", max_tokens=3)
            check(False, "a full queue: expected a 503, got an answer")
        except openai.InternalServerError as error:
            check(error.status_code == 503 and error.response.headers.get("retry-after") is not None,
                  f"a full queue: {error.status_code} with Retry-After {error.response.headers.get('retry-after')}")
        # (Reading the stream takes the SDK longer than the server took to write it: count, not time.)
        chunks = [first] + [c for c in long_stream if c.choices]
        check(chunks[-1].choices[0].finish_reason == "length" and len(chunks) < 100000,
              f"--request-timeout 1 cuts a 100000-token stream after {len(chunks) - 1} tokens")
        try:
            outcome = waiting.result(timeout=30).choices[0].finish_reason
        except openai.InternalServerError as error:
            outcome = error.status_code
        check(outcome in ("length", "stop", 503), f"the request that waited ends too: {outcome}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main():
    work = tempfile.mkdtemp(prefix="serve-e2e-")
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("User: hello there, how are you?\nAssistant: the king is good and the queen is warm.\n" * 100)
    run = os.path.join(work, "run")
    subprocess.run([GPT, "train", "--data", corpus, "--steps", "200", "--eval-every", "0", "--set", "n_layer=1",
                    "--set", "n_positions=32", "--set", "n_embd=32", "--set", "n_head=2", "--out", run, "--threads", "1"],
                   check=True, capture_output=True, timeout=300)
    server = subprocess.Popen([GPT, "serve", "--checkpoint", run, "--port", "0", "--model-name", "tiny", "--threads", "1",
                               "--max-body", "4KB"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, "GPT_API_KEY": KEY})
    try:
        line = server.stdout.readline()  # "serving tiny at http://127.0.0.1:PORT/v1"
        base = line.split()[-1]
        check(base.startswith("http://127.0.0.1:"), f"serve prints its URL: {line.strip()}")
        exercise(base)
        busy_server(run)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=30)
        check(status == 0, f"SIGTERM: exit status {status}")
        shutil.rmtree(work, ignore_errors=True)


def exercise(base):
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=60)
    check([m.id for m in client.models.list().data] == ["tiny"], "models.list")

    c = client.completions.create(model="tiny", prompt="User:", max_tokens=10, temperature=0)
    check(c.object == "text_completion" and len(c.choices[0].text) == 10 and c.choices[0].finish_reason == "length"
          and c.usage.completion_tokens == 10, f"completion: {c.choices[0].text!r}")
    pieces = [ch.choices[0].text for ch in client.completions.create(model="tiny", prompt="User:", max_tokens=10,
                                                                      temperature=0, stream=True) if ch.choices]
    check("".join(pieces) == c.choices[0].text, "streamed completion equals the whole one")

    chat = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
                                          temperature=0)
    check(chat.choices[0].message.role == "assistant", f"chat: {chat.choices[0].message.content!r}")
    chunks = list(client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
                                                 temperature=0, stream=True, stream_options={"include_usage": True}))
    check(chunks[0].choices[0].delta.role == "assistant", "first chat delta carries the role")
    check(chunks[-2].choices[0].finish_reason is not None, "last choice chunk carries finish_reason")
    check(chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8, "usage chunk with include_usage")
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check(text == chat.choices[0].message.content, "streamed chat equals the whole one")

    free = client.completions.create(model="tiny", prompt="User:", max_tokens=30, seed=3).choices[0].text
    k = next(k for k in range(3, len(free) - 2) if free.index(free[k:k + 2]) == k)  # a stop first seen mid-text
    stop = free[k:k + 2]
    cut = client.completions.create(model="tiny", prompt="User:", max_tokens=30, seed=3, stop=[stop])
    check(cut.choices[0].text == free[:free.index(stop)] and cut.choices[0].finish_reason == "stop", f"stop {stop!r} after {cut.choices[0].text!r}")

    lp = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
                                        temperature=0, logprobs=True, top_logprobs=3)
    entries = lp.choices[0].logprobs.content
    check(len(entries) == 8 and all(len(e.top_logprobs) == 3 and e.logprob <= 0 for e in entries)
          and "".join(e.token for e in entries) == lp.choices[0].message.content, "chat logprobs")
    clp = client.completions.create(model="tiny", prompt="User:", max_tokens=5, temperature=0, logprobs=2).choices[0].logprobs
    check(len(clp.tokens) == 5 and len(clp.top_logprobs) == 5, "completion logprobs")
    echo = client.completions.create(model="tiny", prompt="User:", max_tokens=0, echo=True, logprobs=1).choices[0]
    check(echo.text == "User:" and echo.logprobs.tokens == list("User:") and echo.logprobs.token_logprobs[0] is None
          and all(v <= 0 for v in echo.logprobs.token_logprobs[1:]), "echo with logprobs scores the prompt (first null)")

    two = client.completions.create(model="tiny", prompt="User:", max_tokens=20, n=2, seed=5, temperature=1.5)
    check([ch.index for ch in two.choices] == [0, 1], "n=2 gives two choices")
    again = client.completions.create(model="tiny", prompt="User:", max_tokens=20, n=2, seed=5, temperature=1.5)
    check([ch.text for ch in two.choices] == [ch.text for ch in again.choices], "the same seed gives the same answer")

    expect_error(openai.BadRequestError, lambda: client.completions.create(model="tiny", prompt="x", temperature=5), "bad temperature")
    expect_error(openai.BadRequestError, lambda: client.completions.create(model="tiny", prompt="a" * 40), "prompt longer than the context")
    expect_error(openai.NotFoundError, lambda: client.completions.create(model="gpt-4", prompt="x"), "unknown model")
    wrong = openai.OpenAI(base_url=base, api_key="wrong", max_retries=0, timeout=30)
    expect_error(openai.AuthenticationError, lambda: wrong.models.list(), "wrong key")
    expect_error(openai.NotFoundError, lambda: client.models.retrieve("gpt-4"), "unknown model (retrieve)")

    # 16 concurrent streams: each ends with a finish reason and equals the same request alone.
    def stream(i):
        parts = client.completions.create(model="tiny", prompt="User:", max_tokens=20 + i, seed=i, temperature=1.0, stream=True)
        chunks = [ch for ch in parts if ch.choices]
        return "".join(ch.choices[0].text for ch in chunks), chunks[-1].choices[0].finish_reason
    alone = [stream(i) for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        together = list(pool.map(stream, range(16)))
    check(together == alone and all(r == "length" for _, r in together), "16 concurrent streams equal each run alone")

    # A client that goes away mid-stream frees the engine: the next request is answered at once.
    long = client.completions.create(model="tiny", prompt="User:", max_tokens=100000, stream=True)
    next(iter(long))
    long.close()
    start = time.time()
    client.completions.create(model="tiny", prompt="User:", max_tokens=2)
    check(time.time() - start < 10, f"after a disconnect the next request took {time.time() - start:.2f} s")
    root = base.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(root + "/metrics", timeout=30) as answer:
        metrics = answer.read().decode()
    check("gpt_running_sequences 0.0" in metrics.splitlines() and "gpt_queue_depth 0.0" in metrics.splitlines(),
          "/metrics: nothing running or queued after the disconnect")

    # A non-streaming client that goes away frees its slot within a step too: send the request on a bare
    # socket, wait until it runs, close, and /metrics must show nothing running within 2 s.
    def running_sequences():
        with urllib.request.urlopen(root + "/metrics", timeout=30) as answer:
            lines = answer.read().decode().splitlines()
        return next(float(l.split()[1]) for l in lines if l.startswith("gpt_running_sequences "))
    host, port = root.split("//", 1)[1].split(":")
    body = b'{"model": "tiny", "prompt": "User:", "max_tokens": 100000}'
    raw = socket.create_connection((host, int(port)), timeout=30)
    raw.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: " + host.encode() + b"\r\nAuthorization: Bearer " + KEY.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    deadline = time.time() + 10
    while running_sequences() == 0 and time.time() < deadline:
        time.sleep(0.02)
    started = running_sequences() == 1
    raw.close()
    closed = time.time()
    while running_sequences() != 0 and time.time() < closed + 2:
        time.sleep(0.02)
    check(started and running_sequences() == 0,
          f"a non-streaming client that disconnects frees its slot ({time.time() - closed:.2f} s after closing)")

    # Bodies the SDK would never send, over plain HTTP.
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for body, status, what in [(b'{"prompt": "x", "pad": "' + b"x" * 5000 + b'"}', 413, "oversized body"),
                               (b'{"prompt": ', 400, "malformed JSON"),
                               (b'{"prompt": "\xff"}', 400, "invalid UTF-8"),
                               (b'{"prompt": "x"}', 401, "missing key"),
                               (b'{"prompt": "x"}', 404, "unknown route")]:
        url = base + ("/nowhere" if status == 404 else "/completions")
        sent = {"Content-Type": "application/json"} if status == 401 else headers
        request = urllib.request.Request(url, data=body, headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                code, text = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            code, text = error.code, error.read()
        check(code == status and b'"error"' in text, f"{what}: {code}")


main()
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
