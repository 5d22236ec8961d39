"""Preprocessing time of the full aclImdb (50,000 labelled reviews), from scratch.

Usage: .venv/bin/python bench/bench_preprocess.py --source PATH [--repeats 1] [--profile]
           [-- --KEY VALUE ...config overrides]

Times src.data.mindrecord.prepare into an empty cache folder: read the reviews (folder or .tar.gz),
tokenize, build the vocabulary, encode ids, write the train/valid/test MindRecord files; then
times the cached second call. --source: aclImdb_v1.tar.gz (from
https://ai.stanford.edu/~amaas/data/sentiment/) or its unpacked aclImdb folder.
Writes bench/results/preprocess.json.
"""
import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import ACLIMDB_HELP, ROOT, load_average, machine, print_table, write_result  # noqa: E402

PHASES = {"read": "read_aclimdb", "tokenize": "tokenize", "vocab": "build",
          "encode": "encode", "mindrecord write": "_write_mindrecord", "source hash": "data_key"}


def phase_seconds(profile):
    """Cumulative seconds of the main functions inside prepare (from the profile)."""
    stats = pstats.Stats(profile).stats
    totals = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        for phase, name in PHASES.items():
            if function == name and "/src/" in filename:
                totals[phase] = round(totals.get(phase, 0.0) + cumulative, 2)
    return totals


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(config_args, workdir, profiled):
    """Prepare from scratch (timed), then again from the cache; with profiled, under cProfile
    (slower: its phase times are shares, not the headline number)."""
    from src.core.config import load_config
    from src.data.mindrecord import prepare
    config = load_config([*config_args, "--preprocess_path", str(workdir)])
    profile = cProfile.Profile() if profiled else None
    started, cpu = time.perf_counter(), _cpu_seconds()
    if profile:
        profile.enable()
    prepared = prepare(config, lambda *_: None)
    if profile:
        profile.disable()
    cold, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    started = time.perf_counter()
    prepare(config, lambda *_: None)
    warm = time.perf_counter() - started
    counts = __import__("json").loads((prepared.folder / "meta.json").read_text())["counts"]
    row = {"seconds": round(cold, 1), "process_cpu_s": round(cpu, 1),
           "cached_seconds": round(warm, 2), "reviews": sum(counts.values()), "counts": counts,
           "vocab": len(prepared.vocab), "max_len": config.max_len, "profiled": profiled}
    if profile:
        row["phases_s"] = phase_seconds(profile)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help=ACLIMDB_HELP)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="one more run under cProfile for the time of each phase")
    parser.add_argument("overrides", nargs="*", help="config overrides, after --")
    options = parser.parse_args()
    load_before = load_average()
    rows = []
    for repeat in range(options.repeats + options.profile):
        with tempfile.TemporaryDirectory(prefix="bench_preprocess-") as workdir:
            result = run_once(["--aclimdb_path", options.source, *options.overrides], workdir,
                              profiled=repeat >= options.repeats)
        rows.append({"run": repeat + 1, "source": Path(options.source).name, **result})
    load_after = load_average()
    print_table(rows, ["run", "source", "reviews", "vocab", "seconds", "process_cpu_s",
                       "cached_seconds", "profiled"])
    if options.profile:
        print("phases (cProfile cumulative, slowed by profiling):", rows[-1]["phases_s"])
    best = min(row["seconds"] for row in rows if not row["profiled"])
    print(f"preprocessing {rows[0]['reviews']} reviews: {best:.1f} s (target <= 60 s)")
    path = write_result("preprocess", {
        "rows": rows, "best_seconds": best, "target_seconds": 60,
        "command": " ".join(["bench/bench_preprocess.py", *sys.argv[1:]]),
        "machine": machine(), "load_before": load_before, "load_after": load_after})
    print(f"wrote {path.relative_to(ROOT)} (load average {load_before['load_1min']} before, "
          f"{load_after['load_1min']} after)")


if __name__ == "__main__":
    main()
