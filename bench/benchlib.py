"""Small helpers shared by the bench scripts: machine load, result JSON, table printing."""
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ROOT", "RESULTS", "WORK", "SAMPLE", "PEER_PYTHON", "ACLIMDB_HELP", "UNSUP_HELP",
           "GLOVE_HELP", "peer_python", "load_average", "machine", "write_result", "print_table",
           "operator_ms", "default_train_step", "child_json",
           "git_commit", "portable", "PEAK", "model_eval_args", "peak_rss_gb"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Scratch space of the bench scripts (preprocessing caches, runs, pretrained encoders): inside
# the clone, ignored by git (bench/.gitignore); each script's --workdir defaults to WORK / name.
WORK = ROOT / "bench" / "work"
SAMPLE = ROOT / "data" / "aclImdb_sample"  # the bundled sample: 1,500 reviews, 1,000 unlabelled
# The peers' interpreter: `make bench-venv` builds .bench-venv from requirements-bench.txt
# (scikit-learn, vaderSentiment, PyTorch; none of them a project dependency).
PEER_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
# Where the data comes from, for the scripts' --help.
ACLIMDB_HELP = ("the aclImdb folder or aclImdb_v1.tar.gz, from "
                "https://ai.stanford.edu/~amaas/data/sentiment/ (data/aclImdb_sample for a "
                "sample run)")
UNSUP_HELP = ("the folder of the 50,000 unlabelled reviews, aclImdb/train/unsup of "
              "aclImdb_v1.tar.gz unpacked (https://ai.stanford.edu/~amaas/data/sentiment/; "
              "data/aclImdb_sample/train/unsup for a sample run)")
GLOVE_HELP = ("a GloVe text file (.txt or .gz), e.g. glove.6B.50d.txt of glove.6B.zip from "
              "https://nlp.stanford.edu/projects/glove/ (data/glove_sample.50d.txt.gz for a "
              "sample run)")
# python -c PEAK SCRIPT ARGS...: runs SCRIPT, then prints "peak_kb N" (its peak resident
# memory) as the last stderr line. VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec
# from the process that forked the child (a pytest worker's 2 GB, say).
PEAK = ("import re, runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "finally:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print('peak_kb', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n")


def peak_rss_gb():
    """This process's peak resident memory so far (VmHWM), in GB."""
    status = Path("/proc/self/status").read_text()
    return round(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1e6, 2)


def model_eval_args(folder, sample):
    """eval.py's arguments for model/ on an aclImdb-shaped folder (sample): model/'s weights,
    settings and vocabulary are copied into folder/model first, since eval.py writes its
    eval.json beside the checkpoint; model/'s vocabulary is its encoder's."""
    run = Path(folder) / "model"
    run.mkdir(parents=True, exist_ok=True)
    for name in ("lstm-best.ckpt", "config.yaml", "vocab.json"):
        shutil.copy(ROOT / "model" / name, run / name)
    return ["--run_dir", run, "--aclimdb_path", sample,
            "--preprocess_path", Path(folder) / "preprocess-model",
            "--encoder_checkpoint", ROOT / "model" / "encoder" / "encoder.ckpt"]


def _project_processes():
    """(CPU %, script) of the running processes of this checkout, by their own script's name
    only: other programs on the machine, and command lines, are none of the record's business."""
    try:
        rows = subprocess.run(["ps", "-eo", "pid=,pcpu=,args="], capture_output=True, text=True,
                              timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for row in rows:
        pid, pcpu, *args = row.split()
        name = _project_script(pid, args)
        if name and int(pid) != os.getpid():
            found.append({"cpu_percent": float(pcpu), "script": name})
    return sorted(found, key=lambda p: -p["cpu_percent"])[:6]


def _project_script(pid, args):
    """The name of the checkout's script (or `-m module`) that process pid runs, else None."""
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    script = next((Path(a) for a in args if a.endswith(".py")), None)
    if script is not None:
        where = (cwd / script).resolve()
        return script.name if ROOT in where.parents else None
    if "-m" in args[:-1] and (cwd == ROOT or ROOT in cwd.parents):
        return f"-m {args[args.index('-m') + 1]}"
    return None


def load_average():
    """The load averages and this project's own busy processes, to judge noisy timings."""
    one, five, _ = os.getloadavg()
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "load_1min": round(one, 2),
            "load_5min": round(five, 2), "project_processes": _project_processes()}


def portable(value):
    """value (nested dicts, lists, strings) with this machine's paths taken out: a path inside
    the checkout becomes relative to it, any other absolute path keeps its last component
    (…/aclImdb), in a string of its own or inside a longer one (a command line)."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    if isinstance(value, str):
        return _ABSOLUTE.sub(_relative, value)
    return value


_ABSOLUTE = re.compile(r"(?<![\w.~:/…])/(?:[\w.+-]+/)*[\w.+-]+")


def _relative(match):
    path = Path(match.group(0))
    if path == ROOT or ROOT in path.parents:
        return str(path.relative_to(ROOT)) or "."
    return f"…/{path.name}"


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


def peer_python(path):
    """path, the peers' interpreter, if it exists; else exits 2 with a one-line error."""
    if not Path(path).exists():
        print(f"error: no peer interpreter {portable(str(path))}: run make bench-venv (it builds "
              f".bench-venv from requirements-bench.txt), or pass --peer_python", file=sys.stderr)
        sys.exit(2)
    return path


def write_result(name, result, folder=RESULTS):
    """Write result (a dict) to folder/NAME.json (bench/results/ by default) atomically;
    returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(portable(result), indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def operator_ms(run):
    """{operator type: ms} of MindSpore's CPU profiler over run() (a callable that runs the
    steps to measure, graphs already compiled)."""
    import csv
    import tempfile
    from mindspore import Profiler
    with tempfile.TemporaryDirectory() as folder:
        profiler = Profiler(output_path=folder)
        run()
        profiler.stop()
        profiler.analyse()
        table = next(Path(folder).rglob("cpu_op_type_info_0.csv"))
        with open(table, newline="") as rows:
            return {row["op_type"]: float(row["total_compute_time"])
                    for row in csv.DictReader(rows)}


def child_json(command, env=None):
    """Run command (a list of words) as a child process, its output captured; the JSON of its
    last stdout line. A failing child raises CalledProcessError with its stderr."""
    done = subprocess.run([str(word) for word in command], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_train_step(dynamic, vocab=35000):
    """train.py's training step (GRAPH_MODE, CPU) of the default network with random weights
    and no linear part, over a vocab-word embedding; one graph for every shape when dynamic."""
    import mindspore as ms
    import numpy as np
    from src.core.config import load_config
    from src.model.network import build_network
    from src.training.loop import build_optimizer, train_step
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    config = load_config(["--encoder_checkpoint", "none", "--wide", "false"])
    network = build_network(config.model, np.zeros((vocab, config.embed_size), np.float32))
    return train_step(network, build_optimizer(config, network, 100)[0], 0.0, dynamic)


def print_table(rows, columns):
    """Print rows (dicts) as an aligned table with the given column keys."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
