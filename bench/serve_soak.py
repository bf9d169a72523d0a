#!/usr/bin/env python3
"""Soak test of `frugal serve`'s resource model (standard library only; docs/serving.md, Resource model).

C clients (default 32) send requests for --duration seconds (default 600), each drawn from a mix:
streaming chats read to the end, non-streaming completions, streams the client cancels after the
first token, malformed or hostile requests (bad JSON, a wrong field, text/plain, a chunked body past
the cap, a gzip bomb, an unknown route, a foreign Host or Origin) and probes (/health, /ready,
/metrics). Every request must get its expected answer: 200 with a complete body or stream, or the
exact error status. Meanwhile the server's resident memory and open descriptors are sampled from
/proc every --sample seconds.

Prints the samples as they come, then per kind the count, unexpected answers and p50/p99 latency,
the 5xx and lost-request totals (lost: no answer, a cut connection, a stream without data: [DONE]),
memory first/last/max with its slope, and the machine's load average. Exits 1 when any request got
a 5xx or was lost, 0 otherwise.

  bench/serve_soak.py --frugal build/cli/frugal                    # own server: random tiny model, 10 min
  bench/serve_soak.py --frugal build/cli/frugal --duration 120
  bench/serve_soak.py --url http://127.0.0.1:8080 --pid 1234        # an existing server (byte tokenizer)

Without --url it makes a random model (`frugal random-model --preset tiny --vocab-size 256`) with the
byte test tokenizer (tests/data/serve/byte_v3) and starts `frugal serve` on a free port.
"""
import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY_CAP = 262144  # --max-body-bytes of the server this script starts (--max-body-bytes with --url)
FIRST_TEXT = re.compile(rb'"(?:content|reasoning_content)":"[^"]')


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))]


class Lost(Exception):
    """The request got no complete answer."""


class Conn:
    """One HTTP/1.1 exchange over a fresh connection (Connection: close), reading as it arrives."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Lost("connection closed early")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def head(self):
        """(status, headers dict with lowercase names)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise Lost("bad status line " + lines[0][:80])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return int(m.group(1)), headers

    def body(self, headers, on_piece=None):
        """The whole body (Content-Length or chunked); on_piece(bytes) -> False stops early."""
        out = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    self._line()
                    return out
                while len(self.buf) < size + 2:
                    self._more()
                piece, self.buf = self.buf[:size], self.buf[size + 2:]
                out += piece
                if on_piece and on_piece(piece) is False:
                    return out
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def request_bytes(method, path, body=b"", host="127.0.0.1", ctype="application/json", extra=""):
    h = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if ctype:
        h += f"Content-Type: {ctype}\r\n"
    if method == "POST" and "Transfer-Encoding" not in extra:
        h += f"Content-Length: {len(body)}\r\n"
    return (h + extra + "\r\n").encode() + body


GZIP_BOMB = None  # built once: 8 MiB of zeros behind a JSON prefix, about 8 KiB on the wire


def gzip_bomb():
    global GZIP_BOMB
    if GZIP_BOMB is None:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        GZIP_BOMB = z.compress(b'{"prompt": "') + z.compress(bytes(8 << 20)) + z.flush()
    return GZIP_BOMB


def chat(text, n_tokens, stream):
    return json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": n_tokens,
                       "temperature": 1, "stream": stream, "ignore_eos": True}).encode()


def malformed(rng):
    """(name, raw request bytes, expected status)."""
    kind = rng.choice(["bad_json", "bad_field", "text_plain", "chunked_too_large", "gzip_bomb", "no_route",
                       "foreign_host", "foreign_origin"])
    if kind == "bad_json":
        return kind, request_bytes("POST", "/v1/chat/completions", b'{"messages": ['), 400
    if kind == "bad_field":
        return kind, request_bytes("POST", "/v1/completions", b'{"prompt": "x", "temperature": "hot"}'), 400
    if kind == "text_plain":
        return kind, request_bytes("POST", "/v1/completions", b'{"prompt": "x"}', ctype="text/plain"), 415
    if kind == "chunked_too_large":
        piece = b" " * 65536
        chunks = b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(BODY_CAP // 65536 + 2))
        return kind, request_bytes("POST", "/v1/completions", extra="Transfer-Encoding: chunked\r\n") + chunks + \
            b"0\r\n\r\n", 413
    if kind == "gzip_bomb":
        bomb = gzip_bomb()
        return kind, request_bytes("POST", "/v1/completions", bomb, extra="Content-Encoding: gzip\r\n"), 413
    if kind == "no_route":
        return kind, request_bytes("POST", "/v1/embeddings", b"{}"), 404
    if kind == "foreign_host":
        return kind, request_bytes("GET", "/v1/models", host="evil.example", ctype=""), 421
    return kind, request_bytes("POST", "/v1/completions", b'{"prompt": "x"}',
                               extra="Origin: http://evil.example\r\n"), 403


class Stats:
    def __init__(self):
        self.mu = threading.Lock()
        self.by_kind = {}  # kind -> {"n", "unexpected", "lat", "ttft", "statuses"}
        self.fivexx = 0
        self.lost = 0
        self.examples = []

    def record(self, kind, status, ok, lat, ttft=None, lost=False, note=""):
        with self.mu:
            k = self.by_kind.setdefault(kind, {"n": 0, "unexpected": 0, "lat": [], "ttft": [], "statuses": {}})
            k["n"] += 1
            k["statuses"][status] = k["statuses"].get(status, 0) + 1
            if ok:
                k["lat"].append(lat)
                if ttft is not None:
                    k["ttft"].append(ttft)
            else:
                k["unexpected"] += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{kind}: status {status} {note}")
            if status >= 500:
                self.fivexx += 1
            if lost:
                self.lost += 1

    def done(self):
        with self.mu:
            return sum(k["n"] for k in self.by_kind.values())


KINDS = ("stream", "cancel", "whole", "bad", "probe")


def parse_mix(text):
    """'stream=35,cancel=15,...' -> cumulative thresholds in KINDS order."""
    w = dict.fromkeys(KINDS, 0.0)
    for item in text.split(","):
        k, _, v = item.partition("=")
        if k.strip() not in w:
            sys.exit(f"serve_soak: --mix: unknown kind '{k}' (expected {', '.join(KINDS)})")
        w[k.strip()] = float(v)
    total, acc, cum = sum(w.values()), 0.0, []
    for k in KINDS:
        acc += w[k] / total
        cum.append((acc, k))
    return cum


def one(host, port, rng, stats, args):
    r = rng.random()
    pick = next(k for acc, k in args.mix if r <= acc)
    t0 = time.perf_counter()
    status, kind, ttft = 0, "", None
    c = None
    try:
        if pick in ("stream", "cancel"):
            kind = pick
            c = Conn(host, port, args.timeout)
            c.send(request_bytes("POST", "/v1/chat/completions", chat(f"soak {rng.random()}", rng.randint(16, 64), True)))
            status, headers = c.head()
            seen = {"first": None, "text": b""}

            def piece(data):
                seen["text"] += data
                if seen["first"] is None and FIRST_TEXT.search(data):  # the first generated text, not the role chunk
                    seen["first"] = time.perf_counter()
                    if kind == "cancel":
                        return False  # hang up mid-stream
                return True

            body = c.body(headers, piece) if status == 200 else c.body(headers)
            if seen["first"] is not None:
                ttft = seen["first"] - t0
            if kind == "cancel":
                ok = status == 200
            else:
                events = [e[6:] for e in seen["text"].split(b"\n\n") if e.startswith(b"data: ")]
                ok = status == 200 and events and events[-1] == b"[DONE]" and not any(b'"error"' in e for e in events)
                if status == 200 and not ok:
                    raise Lost("stream without [DONE] or with an error event: " + body[-200:].decode(errors="replace"))
            stats.record(kind, status, ok, time.perf_counter() - t0, ttft, note=body[:160].decode(errors="replace"))
        elif pick == "whole":
            kind = "whole"
            c = Conn(host, port, args.timeout)
            body = json.dumps({"prompt": f"soak {rng.random()}", "max_tokens": rng.randint(8, 32),
                               "ignore_eos": True}).encode()
            c.send(request_bytes("POST", "/v1/completions", body))
            status, headers = c.head()
            text = c.body(headers)
            ok = status == 200 and json.loads(text).get("choices")
            stats.record(kind, status, bool(ok), time.perf_counter() - t0, note=text[:160].decode(errors="replace"))
        elif pick == "bad":
            name, raw, want = malformed(rng)
            kind = "bad:" + name
            c = Conn(host, port, args.timeout)
            try:
                c.send(raw)
            except OSError:
                pass  # the server may answer and stop reading before all of a large body is sent
            status, headers = c.head()
            text = c.body(headers)
            ok = status == want and b'"error"' in text
            stats.record(kind, status, ok, time.perf_counter() - t0, note=text[:160].decode(errors="replace"))
        else:
            path = rng.choice(["/health", "/ready", "/metrics"])
            kind = "probe"
            c = Conn(host, port, args.timeout)
            c.send(request_bytes("GET", path, ctype=""))
            status, headers = c.head()
            c.body(headers)
            stats.record(kind, status, status == 200, time.perf_counter() - t0)
    except (Lost, OSError, ValueError) as e:
        stats.record(kind or "?", status, False, time.perf_counter() - t0, lost=True, note=f"lost: {e}")
    finally:
        if c:
            c.close()


def rss_and_fds(pid):
    rss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None, None
    return rss, fds


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def start_server(frugal, tmp):
    model = os.path.join(tmp, "model")
    subprocess.run([frugal, "random-model", model, "--preset", "tiny", "--vocab-size", "256", "--seed", "7"],
                   check=True, stderr=subprocess.DEVNULL)
    log = open(os.path.join(tmp, "serve.log"), "w+")
    proc = subprocess.Popen([frugal, "serve", model, "--tokenizer", os.path.join(ROOT, "tests/data/serve/byte_v3"),
                             "--port", "0", "--max-batch", "16", "--max-queue", "64",
                             "--max-body-bytes", str(BODY_CAP)], stderr=log)
    for _ in range(600):
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            port = int(m.group(1))
            try:
                c = Conn("127.0.0.1", port, 2)
                c.send(request_bytes("GET", "/ready", ctype=""))
                if c.head()[0] == 200:
                    return proc, port
            except (OSError, Lost):
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    sys.exit("serve_soak: the server did not become ready:\n" + log.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frugal", default=os.path.join(ROOT, "build/cli/frugal"), help="the frugal binary")
    ap.add_argument("--url", help="an existing server (then --pid for memory samples)")
    ap.add_argument("--pid", type=int, help="the existing server's process id")
    ap.add_argument("--max-body-bytes", type=int, default=4 << 20, help="the existing server's body cap")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--sample", type=float, default=10, help="seconds between memory samples")
    ap.add_argument("--timeout", type=float, default=60, help="client socket timeout in seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", default="stream=35,cancel=15,whole=20,bad=20,probe=10",
                    help="relative weights of the request kinds (default: %(default)s)")
    args = ap.parse_args()
    args.mix = parse_mix(args.mix)

    tmp = tempfile.TemporaryDirectory(prefix="frugal-soak-")
    proc = None
    global BODY_CAP
    if args.url:
        BODY_CAP = args.max_body_bytes
        m = re.match(r"http://([^:/]+):(\d+)", args.url)
        host, port, pid = m.group(1), int(m.group(2)), args.pid
    else:
        proc, port = start_server(args.frugal, tmp.name)
        host, pid = "127.0.0.1", proc.pid
    stats = Stats()
    load0 = loadavg()
    end = time.monotonic() + args.duration
    t_start = time.monotonic()

    def client(i):
        rng = random.Random(args.seed * 1000 + i)
        while time.monotonic() < end:
            one(host, port, rng, stats, args)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    samples = []
    print(f"{'t_s':>6} {'rss_MiB':>8} {'fds':>5} {'done':>7} {'5xx':>4} {'lost':>4}  load")
    while any(t.is_alive() for t in threads):
        rss, fds = rss_and_fds(pid) if pid else (None, None)
        t = time.monotonic() - t_start
        if rss is not None:
            samples.append((t, rss))
        print(f"{t:6.0f} {rss if rss is not None else float('nan'):8.1f} {fds if fds is not None else -1:5d} "
              f"{stats.done():7d} {stats.fivexx:4d} {stats.lost:4d}  {loadavg()}", flush=True)
        for th in threads:
            th.join(timeout=args.sample / max(1, len(threads)))
    load1 = loadavg()

    print(f"\n{'kind':<24} {'n':>6} {'unexpected':>10} {'p50_s':>8} {'p99_s':>8} {'ttft_p50':>8} {'ttft_p99':>8}  statuses")
    for kind in sorted(stats.by_kind):
        k = stats.by_kind[kind]
        print(f"{kind:<24} {k['n']:6d} {k['unexpected']:10d} {percentile(k['lat'], 50):8.3f} "
              f"{percentile(k['lat'], 99):8.3f} {percentile(k['ttft'], 50):8.3f} {percentile(k['ttft'], 99):8.3f}  "
              f"{dict(sorted(k['statuses'].items()))}")
    for e in stats.examples:
        print("  example:", e)
    print(f"\nrequests {stats.done()}  5xx {stats.fivexx}  lost {stats.lost}  "
          f"({stats.done() / max(1e-9, args.duration):.1f} req/s over {args.duration:.0f} s, {args.concurrency} clients)")
    if samples:
        rss = [r for _, r in samples]
        # The second half: the first fills the prefix cache and the allocator's arenas.
        warm = [s for s in samples if s[0] >= args.duration / 2] or samples
        ts, rs = [t for t, _ in warm], [r for _, r in warm]
        slope = 0.0
        if len(warm) > 1 and statistics.pvariance(ts) > 0:
            mt, mr = statistics.mean(ts), statistics.mean(rs)
            slope = sum((t - mt) * (r - mr) for t, r in warm) / sum((t - mt) ** 2 for t in ts) * 60
        print(f"rss MiB: first {rss[0]:.1f}  last {rss[-1]:.1f}  max {max(rss):.1f}  "
              f"slope over the second half {slope:+.2f} MiB/min")
    print(f"load average: start {load0}  end {load1}  ({os.cpu_count()} CPUs)")
    if proc:
        proc.terminate()
        t0 = time.monotonic()
        proc.wait(timeout=60)
        print(f"SIGTERM to exit: {time.monotonic() - t0:.2f} s, exit status {proc.returncode}")
    return 1 if stats.fivexx or stats.lost else 0


if __name__ == "__main__":
    sys.exit(main())
