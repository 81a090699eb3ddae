#!/usr/bin/env python3
"""Load test of `gpt serve`: C concurrent streaming clients (C = 1, 4, 8, 16 by default),
each asking for --tokens tokens, against a server this script starts on 127.0.0.1.

Reports per C: aggregate output tokens/s (all clients' tokens over the wall time of the
round), time to first token p50/p99, inter-token latency p50/p99 (gaps between a stream's
chunks), and each stream's decode rate (tokens after the first over the time from the first
chunk to the last; the median over streams). Traffic goes only to 127.0.0.1; every request
has a timeout and every round is bounded, so it stops by itself.

With --versus-bench N it then alternates N single-stream rounds with N runs of `gpt bench
generate` (same threads, 16-token prompt, --tokens new tokens, one decode run each), and
prints the medians and their ratio: the issue's "one stream within 10 % of bench generate".

Without --checkpoint it makes GPT-2 124M with `gpt` itself: one training step of the
gpt2-124m preset (random weights, GPT-2's tokenizer) on a text file.

  python3 Benchmarks/serve_load.py --gpt .build/release/gpt [--checkpoint DIR] [--versus-bench 5] [--json]
Standard library only.
"""
import argparse, http.client, json, os, re, statistics, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
PROMPTS = ["The king", "Once upon a time", "In the beginning", "The queen said", "A ship sailed",
           "To be or not", "My lord, the", "Friends and countrymen"]


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def make_checkpoint(gpt, work, threads):
    data = os.path.join(SHARED, "tinyshakespeare.txt")
    if not os.path.exists(data):
        data = os.path.join(work, "corpus.txt")
        with open(data, "w") as f:
            f.write("The king is good and the queen is warm. " * 20000)
    ranks = os.path.join(SHARED, "gpt2.tiktoken")
    tokenizer = ranks if os.path.exists(ranks) else "gpt2"
    run = os.path.join(work, "gpt2-124m")
    cmd = [gpt, "train", "--preset", "gpt2-124m", "--data", data, "--tokenizer", tokenizer, "--steps", "1",
           "--eval-every", "0", "--set", "batch_size=1", "--threads", str(threads), "--out", run]
    print("making a checkpoint:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return run


def stream(port, prompt, tokens, timeout):
    """One streaming completion; returns (start, [chunk arrival times], completion tokens)."""
    body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read()[:200]!r}")
    arrivals, usage = [], 0
    for line in response:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            usage = event["usage"]["completion_tokens"]
        for choice in event.get("choices", []):
            if choice.get("text"):
                arrivals.append(time.perf_counter())
    conn.close()
    return start, arrivals, usage


def round_of(port, clients, tokens, timeout):
    results, errors = [None] * clients, []

    def client(i):
        try:
            results[i] = stream(port, PROMPTS[i % len(PROMPTS)] + f" ({i})", tokens, timeout)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    wall = time.perf_counter() - begin
    if errors or any(r is None for r in results):
        raise RuntimeError(f"{clients} clients: {errors[:3]}")
    total = sum(r[2] for r in results)
    ttft = [r[1][0] - r[0] for r in results if r[1]]
    gaps = [b - a for r in results for a, b in zip(r[1], r[1][1:])]
    # A stream's decode rate: the tokens after the first over the time from its first chunk to its last.
    decode = [(r[2] - 1) / (r[1][-1] - r[1][0]) for r in results if len(r[1]) >= 2 and r[1][-1] > r[1][0]]
    return {"clients": clients, "completion_tokens": total, "wall_s": wall, "tokens_per_s": total / wall,
            "ttft_p50_ms": 1e3 * percentile(ttft, 50), "ttft_p99_ms": 1e3 * percentile(ttft, 99),
            "itl_p50_ms": 1e3 * percentile(gaps, 50), "itl_p99_ms": 1e3 * percentile(gaps, 99),
            "stream_decode_tokens_per_s": statistics.median(decode) if decode else float("nan")}


def step_totals(port):
    """(sum, count) of the engine's forward passes from /metrics (gpt_engine_step_seconds), or None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    values = dict(line.split()[:2] for line in text.splitlines() if line.startswith("gpt_engine_step_seconds_"))
    if "gpt_engine_step_seconds_sum" not in values:
        return None
    return float(values["gpt_engine_step_seconds_sum"]), float(values["gpt_engine_step_seconds_count"])


def bench_generate(gpt, threads, tokens, timeout):
    """One decode run of `gpt bench generate` (random GPT-2 124M weights, 16-token prompt): tokens/s."""
    out = subprocess.run([gpt, "bench", "generate", "--threads", str(threads), "--prompt-tokens", "16",
                          "--new-tokens", str(tokens), "--prefill-tokens", "16", "--repeats", "1", "--json"],
                         check=True, capture_output=True, text=True, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])["decode_tokens_per_sec"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpt", default=os.path.join(HERE, "..", ".build", "release", "gpt"))
    parser.add_argument("--checkpoint")
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per request (a round is bounded by it)")
    parser.add_argument("--versus-bench", type=int, default=0, metavar="N",
                        help="then N single-stream rounds alternating with N `gpt bench generate` runs; their medians' ratio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if any(c < 1 or c > 64 for c in levels) or not 2 <= args.tokens <= 1000 or not 0 <= args.versus_bench <= 20:
        sys.exit("concurrency must be in 1...64, --tokens in 2...1000 and --versus-bench in 0...20")

    with tempfile.TemporaryDirectory(prefix="serve-load-") as work:
        checkpoint = args.checkpoint or make_checkpoint(args.gpt, work, args.threads)
        server = subprocess.Popen([args.gpt, "serve", "--checkpoint", checkpoint, "--host", "127.0.0.1", "--port", "0",
                                   "--model-name", "bench", "--max-batch", str(max(args.max_batch, max(levels))),
                                   "--max-queue", "256", "--threads", str(args.threads)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port, deadline = None, time.time() + 300
            while port is None and time.time() < deadline:
                line = server.stdout.readline()
                if not line:
                    sys.exit("gpt serve exited before it was ready")
                match = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/v1", line)
                if match:
                    port = int(match.group(1))
            if port is None:
                sys.exit("gpt serve was not ready within 300 s")
            stream(port, "warm up", 8, args.timeout)
            rows = [round_of(port, c, args.tokens, args.timeout) for c in levels]
            pairs, forward_ms = [], None
            before = step_totals(port) if args.versus_bench else None
            for _ in range(args.versus_bench):
                served = round_of(port, 1, args.tokens, args.timeout)
                pairs.append((served["stream_decode_tokens_per_s"], served["tokens_per_s"],
                              bench_generate(args.gpt, args.threads, args.tokens, args.timeout)))
            after = step_totals(port) if args.versus_bench else None
            if before and after and after[1] > before[1]:
                # The engine's own forward pass per step in those rounds: what is left of a token's time is HTTP and the host.
                forward_ms = 1e3 * (after[0] - before[0]) / (after[1] - before[1])
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    single = next((r["tokens_per_s"] for r in rows if r["clients"] == 1), None)
    print("| clients | output tok/s | × 1 stream | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['tokens_per_s'] / single:.2f}" if single else "–"
        print(f"| {r['clients']} | {r['tokens_per_s']:.1f} | {ratio} | {r['ttft_p50_ms']:.0f} | {r['ttft_p99_ms']:.0f} | "
              f"{r['itl_p50_ms']:.1f} | {r['itl_p99_ms']:.1f} |")
    versus = None
    if pairs:
        serve = statistics.median(p[0] for p in pairs)
        wall = statistics.median(p[1] for p in pairs)
        bench = statistics.median(p[2] for p in pairs)
        # Each pair ran within seconds of each other: the median of the pairs' ratios drifts less with the host's load.
        paired = statistics.median(a / c for a, _, c in pairs)
        versus = {"pairs": len(pairs), "serve_forward_ms_per_step": forward_ms, "serve_decode_tokens_per_s": serve, "serve_wall_tokens_per_s": wall,
                  "bench_decode_tokens_per_s": bench, "ratio": serve / bench, "median_pair_ratio": paired,
                  "runs": [{"serve_decode": a, "serve_wall": b, "bench_decode": c} for a, b, c in pairs]}
        print(f"\none stream vs `gpt bench generate`, medians of {len(pairs)} alternating runs: serve decode {serve:.1f} tok/s "
              f"(whole request {wall:.1f}), bench generate {bench:.1f} tok/s -> {serve / bench:.2f}x; median of the pairs' ratios {paired:.2f}x")
        print("  runs (serve decode / bench decode): " + ", ".join(f"{a:.1f}/{c:.1f}" for a, _, c in pairs))
        if forward_ms:
            print(f"  the server's forward pass: {forward_ms:.2f} ms per step (= {1e3 / forward_ms:.1f} tok/s); "
                  f"bench generate: {1e3 / bench:.2f} ms per token")
    if args.json:
        print(json.dumps({"tokens": args.tokens, "threads": args.threads, "rounds": rows, "versus_bench": versus}))


if __name__ == "__main__":
    main()
