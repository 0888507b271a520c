#!/usr/bin/env python3
"""Benchmark serving an uploaded image against the same bytes as a static file, per backend.

For each backend (``--backends sqlite,mongodb``, default both) a throw-away database (SQLite in
a temporary directory; MongoDB a 1-member replica set on loopback, stopped by pid at the end)
is migrated, a character gets an upload (characters/images.py: a 1200x1800 JPEG), and the
re-encoded original is also copied into STATIC_ROOT. gunicorn serves it as the container does
(bench/bench_pages.py's harness), and a second process loads, URL by URL:

    /healthz (no database), the static copy (WhiteNoise, the baseline),
    the upload without a validator (read from GridFS or the disk every time: uncached),
    the upload revalidated with its ETag (a 304: no database read).

Prints requests/s, p50/p95 and each as a ratio of the static file's in the same run.
Target: the uncached upload >= 0.5x the static file. Exit status 1 when a request failed.

    .venv/bin/python bench/bench_images.py [--backends sqlite,mongodb] [--concurrency 8]
        [--requests 2000] [--max-seconds 15] [--uploads-cache-mb N]

On MongoDB each worker keeps what it read in memory (MARVELSITE_UPLOADS_CACHE_MB, default 32):
"uncached" is then the HTTP sense (no validator); `--uploads-cache-mb 0` reads GridFS each time.
"""

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pages  # the one harness: environment, gunicorn, load generator

ROOT = bench_pages.ROOT
STATIC_NAME = "bench-image.jpg"
TARGET = 0.5

UPLOAD = """
import io, json, os
from pathlib import Path
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw
from characters import images
from characters.models import Character

image = Image.new("RGB", (1200, 1800), (40, 90, 160))
draw = ImageDraw.Draw(image)
for i in range(0, 1200, 7):
    draw.line((i, 0, 1200 - i, 1800), fill=(i % 256, 255 - i % 256, 90), width=3)
out = io.BytesIO()
image.save(out, "JPEG", quality=92)
prepared = images.prepare(SimpleUploadedFile("bench.jpg", out.getvalue()))
sha = images.store(prepared)
Path(os.environ["BENCH_STATIC_COPY"]).write_bytes(prepared.sizes["original"].data)
Character.objects.update_or_create(id=1, defaults={"name": "Bench", "image_upload": sha})
print(json.dumps({"sha": sha, "bytes": len(prepared.sizes["original"].data),
                  "url": Character.objects.get(id=1).upload_url("original")}))
"""


def prepare(env: dict, static_root: Path) -> dict:
    manage = [bench_pages.PYTHON, "manage.py"]
    bench_pages.run([*manage, "migrate", "--noinput", "-v0"], env)
    static_copy = {"BENCH_STATIC_COPY": str(static_root / STATIC_NAME)}
    out = bench_pages.run(
        [*manage, "shell", "-c", UPLOAD], env | static_copy, capture_output=True
    ).stdout
    info = json.loads(out.strip().splitlines()[-1])
    return info


def figures(rows) -> dict:
    result = {}
    for name, _path, run in rows:
        latencies = sorted(run["latencies"])
        result[name] = {
            "rps": len(latencies) / run["wall"] if run["wall"] else 0.0,
            "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
            "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000 if latencies else 0.0,
            "errors": sum(1 for status in run["errors"] if status != 304),
            "n": len(latencies),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,mongodb")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--uploads-cache-mb", type=int, default=None)
    options = parser.parse_args()
    backends = [b for b in options.backends.split(",") if b]

    workdir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    static_root = ROOT / "staticfiles"
    made_static_root = not static_root.exists()
    static_root.mkdir(exist_ok=True)
    status = 0
    try:
        for backend in backends:
            with contextlib.ExitStack() as stack:
                data_dir = workdir / backend
                data_dir.mkdir()
                env = bench_pages.server_env(MARVELSITE_DATA_DIR=str(data_dir))
                if options.uploads_cache_mb is not None:
                    env["MARVELSITE_UPLOADS_CACHE_MB"] = str(options.uploads_cache_mb)
                if backend == "mongodb":
                    replica_set = stack.enter_context(bench_pages.start_mongodb())
                    env.update(MONGODB_URI=replica_set.uri, MONGODB_NAME="bench_images")
                info = prepare(env, static_root)
                port = stack.enter_context(bench_pages.serve(env, workdir))
                etag = f'"{info["sha"]}-original"'
                jobs = [
                    ("healthz", "/healthz"),
                    ("static file", f"/static/{STATIC_NAME}"),
                    ("upload, uncached", info["url"]),
                    ("upload, 304", info["url"], {"If-None-Match": etag}),
                ]
                rows = bench_pages.load(port, jobs, options)
                found = figures(rows)
                base = found["static file"]["rps"] or 1.0
                print(
                    f"\n{backend}: image {info['bytes']:,} bytes, concurrency "
                    f"{options.concurrency}, {bench_pages.HOST}"
                )
                print(f"{'':20} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'x static':>9} errors")
                for name, row in found.items():
                    print(
                        f"{name:20} {row['rps']:8.0f} {row['p50']:8.1f} {row['p95']:8.1f} "
                        f"{row['rps'] / base:9.2f} {row['errors']}"
                    )
                ratio = found["upload, uncached"]["rps"] / base
                verdict = "meets" if ratio >= TARGET else "MISSES"
                print(f"uncached upload {ratio:.2f}x the static file: {verdict} >= {TARGET}x")
                status |= any(row["errors"] for name, row in found.items() if name != "upload, 304")
    finally:
        (static_root / STATIC_NAME).unlink(missing_ok=True)
        if made_static_root:
            shutil.rmtree(static_root, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
