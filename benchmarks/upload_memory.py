"""Peak memory of parsing an uploaded dataset: the size cap checked while reading vs after.

For each upload it prints how much the peak resident memory of a fresh process grows
while one parser call runs (VmHWM after the call minus VmRSS before it, the peak reset
first through /proc/self/clear_refs; ``ru_maxrss`` where that is not possible), for:

- after: ``parse_npz`` / ``parse_csv`` with ``max_values`` (the cap checked from the
  ``.npy`` headers, or while the CSV streams), given the upload as bytes and as a file;
- before: what the service did until now, measured with the same process setup: the
  archive read in full and the cap checked afterwards (``parse_npz`` without
  ``max_values`` is that code path), and for CSV the whole file decoded, split into
  lines and handed to ``np.loadtxt`` at once (the former fast path for plain numbers;
  text went through lists of strings, which costs more). With ``--before-root`` a
  checkout of the former code is run instead (its parsers, then the cap).

Uploads (made in a temporary folder; nothing is downloaded):

- npz bomb: ``inputs`` of 20,000 x 2,000 zeros (320 MB as float64) deflated to ~0.3 MB;
- 8 MB CSV of plain numbers (20 columns), with the cap at 1,000 values (over) and at
  100,000,000 (under, the service default);
- 8 MB CSV whose target column holds text (the csv-module path), under the cap.

Usage::

    python benchmarks/upload_memory.py
    python benchmarks/upload_memory.py --before-root /tmp/old   # git archive of the old main
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BOMB_SHAPE = (20_000, 2_000)
CAP_OVER = 1_000
CAP_UNDER = 100_000_000

CHILD = r"""
import io, json, resource, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from app.datasets import DatasetError, parse_csv, parse_npz

kind, path, cap, how = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
source = open(path, "rb")
data = source if how == "file" else source.read()


def naive_csv(raw):
    # the former reading: the whole text, its lines, one loadtxt call, then the cap
    text = raw.decode("utf-8-sig")
    lines = text.splitlines()
    matrix = np.loadtxt(io.StringIO(text), delimiter=",", comments=None, skiprows=1, ndmin=2)
    del lines
    if matrix.shape[0] * (matrix.shape[1] - 1) > cap:
        raise DatasetError("over the cap")
    return matrix


def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


try:  # reset the peak to the current RSS (Linux), so earlier peaks do not hide growth
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, peak = status("VmRSS"), lambda: status("VmHWM")
except OSError:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    if how == "old":  # another checkout's parsers, the cap checked after (as its route did)
        parsed = (parse_npz if kind == "npz" else parse_csv)(data)
        if parsed.n_samples * parsed.n_features > cap:
            raise DatasetError("over the cap")
    elif how == "naive":
        if kind == "npz":
            parsed = parse_npz(data)  # read in full, then the cap (as the route did)
            if parsed.n_samples * parsed.n_features > cap:
                raise DatasetError("over the cap")
        else:
            naive_csv(data)
    elif kind == "npz":
        parse_npz(data, max_values=cap)
    else:
        parse_csv(data, max_values=cap)
    outcome = "parsed"
except DatasetError as exc:
    outcome = type(exc).__name__
after = peak()
print(json.dumps({"outcome": outcome, "growth_mb": (after - before) / 1024}))
"""


def write_npz_bomb(path: Path, shape: tuple[int, int] = BOMB_SHAPE) -> None:
    """An .npz whose ``inputs`` inflate to ``shape`` float64 zeros, written in pieces (the
    array itself is never in memory), with small ``targets``."""
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("inputs.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            row_block = np.zeros((1000, shape[1])).tobytes()
            for _ in range(shape[0] // 1000):
                member.write(row_block)
        with archive.open("targets.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(shape[0]))


def write_csv(
    path: Path, size: int = 8 << 20, columns: int = 20, text_target: bool = False
) -> None:
    """About ``size`` bytes of CSV: ``columns - 1`` numeric inputs and a target (numbers,
    or class names with ``text_target``)."""
    rng = np.random.default_rng(0)
    names = [f"x{k}" for k in range(columns - 1)] + ["y"]
    with path.open("w") as out:
        out.write(",".join(names) + "\n")
        while out.tell() < size:
            block = rng.random((1000, columns))
            for row in block:
                cells = [f"{v:.6f}" for v in row[:-1]]
                cells.append(("cat", "dog", "owl")[int(row[-1] * 3)] if text_target else "1")
                out.write(",".join(cells) + "\n")


def measure(kind: str, path: Path, cap: int, how: str, root: Path = ROOT) -> dict[str, object]:
    """One parse in a fresh process: its outcome and peak RSS growth (MB)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), kind, str(path), str(cap), how],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--before-root",
        type=Path,
        default=None,
        help="a checkout of the former code: 'before' runs its parsers (no max_values, the "
        "cap checked after) instead of the built-in imitation",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bomb, plain, text = folder / "bomb.npz", folder / "plain.csv", folder / "text.csv"
        write_npz_bomb(bomb)
        write_csv(plain)
        write_csv(text, text_target=True)
        rows = [
            ("npz bomb (320 MB inflated)", "npz", bomb, CAP_OVER),
            ("8 MB CSV, over the cap", "csv", plain, CAP_OVER),
            ("8 MB CSV, under the cap", "csv", plain, CAP_UNDER),
            ("8 MB CSV with text labels", "csv", text, CAP_UNDER),
        ]
        header = (
            f"{'upload':28} {'file':>8} {'cap':>12}  {'before':>16}  "
            f"{'after (bytes)':>16}  {'after (file)':>16}"
        )
        print("peak RSS growth of one parser call, MB (outcome)\n")
        print(header)
        print("-" * len(header))
        for label, kind, path, cap in rows:
            cells = []
            for how in ("naive", "bytes", "file"):
                if how == "naive" and args.before_root is not None:
                    r = measure(kind, path, cap, "old", args.before_root)
                elif how == "naive" and path is text:
                    cells.append(f"{'-':>16}")
                    continue
                else:
                    r = measure(kind, path, cap, how)
                short = "refused" if r["outcome"] != "parsed" else "parsed"
                cells.append(f"{float(str(r['growth_mb'])):>7.1f} {short:>8}")
            size = path.stat().st_size / (1 << 20)
            print(f"{label:28} {size:>6.1f}MB {cap:>12,}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
