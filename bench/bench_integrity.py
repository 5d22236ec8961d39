"""What the integrity checks cost: the preprocessing cache's SHA-256 digests (recorded when it
is built, checked before every reuse) and the CRC32 trailer of checkpoints (written at save,
checked at load).

Usage: .venv/bin/python bench/bench_integrity.py --source PATH [--repeats 5]

--source: aclImdb_v1.tar.gz (from https://ai.stanford.edu/~amaas/data/sentiment/) or its
unpacked aclImdb folder, preprocessed once into a temporary folder (timed, for the share);
the checkpoint rows save and load model/lstm-best.ckpt's weights with and without the trailer.
Writes bench/results/integrity.json.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import ACLIMDB_HELP, ROOT, load_average, machine, print_table, write_result  # noqa: E402


def _median_ms(action, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 1)


def cache_rows(source, repeats):
    """Preprocessing from scratch, then the digests of the cache it wrote and their check."""
    from src.core.config import load_config
    from src.data import cache_check, mindrecord
    with tempfile.TemporaryDirectory(prefix="bench_integrity-") as workdir:
        config = load_config(["--aclimdb_path", source, "--preprocess_path", workdir])
        started = time.perf_counter()
        folder = mindrecord.prepare(config, lambda *_: None).folder
        build_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        digests_ms = _median_ms(lambda: cache_check.folder_digests(folder), repeats)
        check_ms = _median_ms(lambda: mindrecord.check_folder(folder), repeats)
    return [{"what": what, "size_mb": round(size / 1e6, 1), "ms": ms,
             "baseline": f"preprocessing {build_s:.1f} s", "share": f"{ms / 10 / build_s:.2f} %"}
            for what, ms in (("cache: record digests (at build)", digests_ms),
                             ("cache: check before reuse", check_ms))]


def checkpoint_rows(repeats):
    """Save and load the shipped model's weights with and without MindSpore's CRC trailer."""
    import mindspore as ms
    from src.model.checkpoint import load_params
    params = load_params(ROOT / "model" / "lstm-best.ckpt")
    weights = [{"name": name, "data": value} for name, value in params.items()
               if hasattr(value, "asnumpy")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_integrity-") as folder:
        for crc in (False, True):
            path = Path(folder) / f"crc-{crc}.ckpt"
            save_ms = _median_ms(lambda: ms.save_checkpoint(weights, str(path), crc_check=crc),
                                 repeats)
            load_ms = _median_ms(lambda: load_params(path), repeats)
            rows.append({"what": f"checkpoint {'with' if crc else 'without'} CRC: save",
                         "size_mb": round(path.stat().st_size / 1e6, 1), "ms": save_ms})
            rows.append({"what": f"checkpoint {'with' if crc else 'without'} CRC: load",
                         "size_mb": round(path.stat().st_size / 1e6, 1), "ms": load_ms})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help=ACLIMDB_HELP)
    parser.add_argument("--repeats", type=int, default=5, help="timings per row (median)")
    options = parser.parse_args()
    load_before = load_average()
    rows = cache_rows(options.source, options.repeats) + checkpoint_rows(options.repeats)
    load_after = load_average()
    print_table(rows, ["what", "size_mb", "ms", "baseline", "share"])
    path = write_result("integrity", {
        "rows": rows, "source": Path(options.source).name, "repeats": options.repeats,
        "command": " ".join(["bench/bench_integrity.py", *sys.argv[1:]]),
        "machine": machine(), "load_before": load_before, "load_after": load_after})
    print(f"wrote {path.relative_to(ROOT)} (load average {load_before['load_1min']} before, "
          f"{load_after['load_1min']} after)")


if __name__ == "__main__":
    main()
