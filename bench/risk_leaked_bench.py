"""Time leaked-password lookups in a generated Pwned-Passwords-format file.

    python bench/risk_leaked_bench.py [--lines 100000000 --path /tmp/risk-pwned-100000000.txt]

The file (~4.3 GB for 100 million lines) is written once and reused when present. It is
sorted by construction, never by sorting: hashes are evenly spaced and increasing with
random gaps (an increasing prefix of i * 16**digits / lines, then random hex digits).
"""

from __future__ import annotations

import argparse
import mmap
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from risk.leaked import LeakedPasswords

CHUNK_LINES = 500_000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def generate(path: Path, lines: int, seed: int) -> None:
    rng = random.Random(seed)
    # Line i starts with floor(i * 16**digits / lines) in `digits` hex digits, which increases
    # strictly because 16**digits >= lines; random hex fills the rest of the 40 digits.
    digits = 1
    while 16**digits < lines:
        digits += 1
    scale, tail = 16**digits, 40 - digits
    tail_bytes = (tail + 1) // 2
    counts = [max(1, int(rng.paretovariate(1.2))) for _ in range(4096)]
    partial = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    with open(partial, "w", encoding="ascii", newline="\n") as handle:
        for first in range(0, lines, CHUNK_LINES):
            size = min(CHUNK_LINES, lines - first)
            noise = rng.randbytes(size * tail_bytes).hex().upper()
            width = 2 * tail_bytes
            handle.write(
                "".join(
                    [
                        f"{(first + i) * scale // lines:0{digits}X}"
                        f"{noise[i * width : i * width + tail]}:{counts[i & 4095]}\n"
                        for i in range(size)
                    ]
                )
            )
            done = first + size
            if done % (20 * CHUNK_LINES) == 0 or done == lines:
                rate = done / (time.perf_counter() - started)
                print(f"  {done:,} / {lines:,} lines ({rate:,.0f} lines/s)", flush=True)
    os.replace(partial, path)


def sample_hits(path: Path, count: int, rng: random.Random) -> list[bytes]:
    """Hashes of `count` lines picked at random byte offsets."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        size = len(m)
        hits = []
        for _ in range(count):
            start = m.rfind(b"\n", 0, rng.randrange(size)) + 1
            hits.append(m[start : start + 40])
        return hits


def timed(label: str, lookup: object, keys: list[bytes] | list[str], expect_hit: bool) -> None:
    timings = []
    found = 0
    for key in keys:
        begin = time.perf_counter()
        result = lookup(key)  # type: ignore[operator]
        timings.append((time.perf_counter() - begin) * 1000)
        found += result > 0
    timings.sort()
    p50 = timings[len(timings) // 2]
    p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
    print(
        f"{label:<28} x {len(keys):,}: p50 {p50:.4f} ms, p99 {p99:.4f} ms, "
        f"max {timings[-1]:.4f} ms, mean {statistics.fmean(timings):.4f} ms "
        f"({found:,} found, expected {'all' if expect_hit else 'none'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000_000)
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    path = args.path or Path(f"/tmp/risk-pwned-{args.lines}.txt")
    print(f"python {platform.python_version()} on {cpu_model()}, nproc {os.cpu_count()}")
    if path.exists():
        print(f"reusing {path}")
    else:
        print(f"writing {args.lines:,} lines to {path}")
        started = time.perf_counter()
        generate(path, args.lines, args.seed)
        print(f"  written in {time.perf_counter() - started:.0f} s")
    print(f"file size {path.stat().st_size / 1e9:.2f} GB")
    rng = random.Random(args.seed + 1)
    hits = sample_hits(path, args.lookups, rng)
    misses = [f"{rng.getrandbits(160):040X}".encode() for _ in range(args.lookups)]
    passwords = [f"correct horse {rng.getrandbits(64):x}" for _ in range(args.lookups)]
    corpus = LeakedPasswords.open("leaked_passwords", str(path))
    try:
        timed("hits (count_hash)", corpus.count_hash, hits, expect_hit=True)
        timed("misses (count_hash)", corpus.count_hash, misses, expect_hit=False)
        timed("passwords (SHA-1 + search)", corpus.count, passwords, expect_hit=False)
    finally:
        corpus.close()


if __name__ == "__main__":
    sys.exit(main())
