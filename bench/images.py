"""Benchmark serving an uploaded image against the same bytes as a static file, per backend.

For each backend (``--backends sqlite,mongodb``, default both) a throw-away database (SQLite in
a temporary directory; MongoDB a 1-member replica set on loopback, stopped by pid at the end)
is migrated, a character gets an upload (characters/images.py: a 1200x1800 JPEG), and the
re-encoded original is also copied into STATIC_ROOT. gunicorn serves it as the container does
(bench.harness), and a second process loads, URL by URL:

    /healthz (no database), the static copy (WhiteNoise, the baseline),
    the upload without a validator (read from GridFS or the disk every time: uncached),
    the upload revalidated with its ETag (a 304: no database read).

Prints requests/s, p50/p95 and each as a ratio of the static file's in the same run.
Target: the uncached upload >= 0.5x the static file. Exit status 1 when a request failed.

    .venv/bin/python -m bench.images [--backends sqlite,mongodb] [--concurrency 8]
        [--requests 2000] [--max-seconds 15] [--uploads-cache-mb N]

On MongoDB each worker keeps what it read in memory (MARVELSITE_UPLOADS_CACHE_MB, default 32):
"uncached" is then the HTTP sense (no validator); `--uploads-cache-mb 0` reads GridFS each time.
"""

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from bench import harness

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
    harness.manage(env, "migrate", "--noinput", "-v0")
    static_copy = {"BENCH_STATIC_COPY": str(static_root / STATIC_NAME)}
    out = harness.manage(env | static_copy, "shell", "-c", UPLOAD, capture_output=True).stdout
    return harness.last_json(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_backends(parser)
    harness.add_load(parser, requests=2000, max_seconds=15.0, warmup=20)
    parser.add_argument("--uploads-cache-mb", type=int, help="MARVELSITE_UPLOADS_CACHE_MB")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    static_root = harness.ROOT / "staticfiles"
    made_static_root = not static_root.exists()
    static_root.mkdir(exist_ok=True)
    status = 0
    try:
        with contextlib.ExitStack() as stack:
            env = harness.server_env()
            if options.uploads_cache_mb is not None:
                env["MARVELSITE_UPLOADS_CACHE_MB"] = str(options.uploads_cache_mb)
            envs, _ = harness.databases(stack, options.backends, env, workdir, "bench_images")
            for backend, env in envs.items():
                info = prepare(env, static_root)
                with harness.serve(env, workdir) as port:
                    etag = f'"{info["sha"]}-original"'
                    found = {
                        "healthz": harness.measure(port, "/healthz", options),
                        "static file": harness.measure(port, f"/static/{STATIC_NAME}", options),
                        "upload, uncached": harness.measure(port, info["url"], options),
                        "upload, 304": harness.measure(
                            port, info["url"], options, headers={"If-None-Match": etag},
                            expect=(304,),
                        ),
                    }  # fmt: skip
                base = found["static file"]["rps"]
                print(
                    f"\n{backend}: image {info['bytes']:,} bytes, concurrency "
                    f"{options.concurrency}, {harness.HOST}"
                )
                rows = [["", "req/s", "p50 ms", "p95 ms", "x static", "errors"]]
                for name, row in found.items():
                    rows.append([name, f"{row['rps']:.0f}", f"{row['p50']:.1f}",
                                 f"{row['p95']:.1f}", f"{harness.ratio(row['rps'], base):.2f}",
                                 row["errors"]])  # fmt: skip
                harness.print_table(rows)
                share = harness.ratio(found["upload, uncached"]["rps"], base)
                print(
                    f"uncached upload {share:.2f}x the static file: "
                    f"{'meets' if share >= TARGET else 'MISSES'} >= {TARGET}x"
                )
                status |= any(row["errors"] for row in found.values())
    finally:
        (static_root / STATIC_NAME).unlink(missing_ok=True)
        if made_static_root:
            shutil.rmtree(static_root, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
