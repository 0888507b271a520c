"""A child process's peak memory (max RSS), measured by a small parent of its own.

A process started straight from pytest reports at least pytest's own size: Linux carries the
high-water mark across fork and exec. A small Python parent runs the command and reads its
children's rusage, which starts from that parent's few megabytes.
"""

import subprocess
import sys
from pathlib import Path

PARENT = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(done.returncode)"
)


def run_measured(
    command: list[str], figure: Path, **options
) -> tuple[subprocess.CompletedProcess, int]:
    """``subprocess.run(command, **options)`` and the command's peak RSS in kB."""
    done = subprocess.run([sys.executable, "-c", PARENT, str(figure), *command], **options)
    return done, int(figure.read_text())
