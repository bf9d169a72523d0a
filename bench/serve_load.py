#!/usr/bin/env python3
"""Load generator for `frugal serve` (standard library only).

C concurrent clients send N streaming requests in all to /v1/chat/completions (or /v1/completions)
and time each one: time to first token, inter-token latency (between content chunks), end to end,
tokens generated (from the usage chunk). Prints percentiles, throughput and the error breakdown
(503s from a full queue are counted, not fatal). Asserts nothing.

  bench/serve_load.py --url http://127.0.0.1:8080 --concurrency 8 --requests 64 --max-tokens 64
  bench/serve_load.py --url ... --concurrency 32 --duration 60     # each client loops for 60 s

With --duration, clients start new requests until the time is up (those running then finish), and
--requests is ignored. Compare a --concurrency 1 run for the single-stream rate.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def one_request(url, args, i):
    """Sends request i; returns a dict of timings, or {'status': code, 'error': ...}."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=args.timeout)
    words = ("lorem ipsum dolor sit amet " * (args.prompt_chars // 27 + 1))[: args.prompt_chars]
    prompt = f"[{i}] {words}"  # distinct per request, so the prefix cache shares only the common tail
    body = {"max_tokens": args.max_tokens, "temperature": args.temperature, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True}
    if args.completions:
        path, body["prompt"] = "/v1/completions", prompt
    else:
        path, body["messages"] = "/v1/chat/completions", [{"role": "user", "content": prompt}]
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    t0 = time.perf_counter()
    try:
        conn.request("POST", path, json.dumps(body), headers)
        res = conn.getresponse()
        if res.status != 200:
            res.read()
            return {"status": res.status}
        first, last, itl, tokens = None, None, [], 0
        buf = b""
        while True:
            chunk = res.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                j = json.loads(event[6:])
                if "error" in j:
                    return {"status": 200, "error": j["error"].get("message")}
                if j.get("usage"):
                    tokens = j["usage"]["completion_tokens"]
                for c in j.get("choices", []):
                    text = c.get("text") if args.completions else (c.get("delta", {}).get("content") or
                                                                   c.get("delta", {}).get("reasoning_content"))
                    if text:
                        now = time.perf_counter()
                        if first is None:
                            first = now
                        else:
                            itl.append(now - last)
                        last = now
        end = time.perf_counter()
        return {"status": 200, "ttft": (first or end) - t0, "itl": itl, "e2e": end - t0, "tokens": tokens}
    except (OSError, http.client.HTTPException) as e:
        return {"status": 0, "error": str(e)}
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--duration", type=float, default=0, help="seconds; clients loop until then")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-chars", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--completions", action="store_true", help="use /v1/completions instead of chat")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    args = ap.parse_args()

    results, lock, next_i = [], threading.Lock(), [0]
    t_start = time.perf_counter()

    def worker():
        while True:
            with lock:
                i = next_i[0]
                if args.duration > 0 and time.perf_counter() - t_start >= args.duration:
                    return
                if args.duration <= 0 and i >= args.requests:
                    return
                next_i[0] += 1
            r = one_request(args.url, args, i)
            with lock:
                results.append(r)
                done = len(results)
                el = time.perf_counter() - t_start
                if not args.json and args.duration > 0:
                    print(f"\r{done} requests | {el:.1f} s of {args.duration:.0f} s", end="", file=sys.stderr)
                elif not args.json:
                    eta = el / done * (args.requests - done)
                    print(f"\r{done}/{args.requests} requests | {el:.1f} s | eta {eta:.1f} s", end="", file=sys.stderr)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    if not args.json:
        print(file=sys.stderr)

    ok = [r for r in results if r["status"] == 200 and "error" not in r]
    codes = {}
    for r in results:
        if r not in ok:
            key = str(r["status"]) + (" stream-error" if r["status"] == 200 else "")
            codes[key] = codes.get(key, 0) + 1
    itl = [x for r in ok for x in r["itl"]]
    tokens = sum(r["tokens"] for r in ok)
    summary = {
        "requests": len(results), "ok": len(ok), "errors": codes, "concurrency": args.concurrency,
        "wall_s": wall, "generated_tokens": tokens, "throughput_tok_s": tokens / wall if wall > 0 else 0,
        "ttft_p50_ms": 1e3 * percentile([r["ttft"] for r in ok], 50),
        "ttft_p90_ms": 1e3 * percentile([r["ttft"] for r in ok], 90),
        "ttft_p99_ms": 1e3 * percentile([r["ttft"] for r in ok], 99),
        "itl_p50_ms": 1e3 * percentile(itl, 50), "itl_p99_ms": 1e3 * percentile(itl, 99),
        "itl_mean_ms": 1e3 * statistics.fmean(itl) if itl else float("nan"),
        "e2e_p50_s": percentile([r["e2e"] for r in ok], 50), "e2e_p99_s": percentile([r["e2e"] for r in ok], 99),
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{summary['ok']}/{summary['requests']} ok, errors {codes or 'none'} | concurrency {args.concurrency} | "
          f"wall {wall:.2f} s")
    print(f"throughput {summary['throughput_tok_s']:.1f} generated tok/s ({tokens} tokens)")
    print(f"ttft  p50 {summary['ttft_p50_ms']:.1f} ms | p90 {summary['ttft_p90_ms']:.1f} ms | "
          f"p99 {summary['ttft_p99_ms']:.1f} ms")
    print(f"itl   p50 {summary['itl_p50_ms']:.2f} ms | p99 {summary['itl_p99_ms']:.2f} ms | "
          f"mean {summary['itl_mean_ms']:.2f} ms")
    print(f"e2e   p50 {summary['e2e_p50_s']:.3f} s | p99 {summary['e2e_p99_s']:.3f} s")


if __name__ == "__main__":
    main()
