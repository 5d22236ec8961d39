"""Small helpers shared by the bench scripts: machine load, result JSON, table printing."""
import json
import os
import platform
import subprocess
import time
from pathlib import Path

__all__ = ["ROOT", "DATA", "RESULTS", "load_average", "machine", "write_result", "print_table",
           "git_commit"]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


def load_average():
    """The 1-minute load average and the busiest other processes, to judge noisy timings."""
    one, five, _ = os.getloadavg()
    try:
        top = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu", "--no-headers"],
                             capture_output=True, text=True, timeout=10).stdout.splitlines()[:6]
    except (OSError, subprocess.SubprocessError):
        top = []
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "load_1min": round(one, 2),
            "load_5min": round(five, 2), "top_processes": [line.strip()[:160] for line in top]}


def git_commit():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    import mindspore
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "mindspore": mindspore.__version__, "commit": git_commit()}


def write_result(name, result):
    """Write result (a dict) to bench/results/NAME.json atomically; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    return path


def print_table(rows, columns):
    """Print rows (dicts) as an aligned table with the given column keys."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
