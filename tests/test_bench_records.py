"""What bench/results/*.json may hold: no path of the machine that ran them, no other
program's command line."""
import json
import subprocess
import sys

from bench.benchlib import RESULTS, ROOT, load_average, portable


def test_paths_become_relative_to_the_checkout_or_lose_their_folders():
    record = portable({"run": str(ROOT / "model" / "lstm-best.ckpt"),
                       "args": ["--aclimdb_path", "/tmp/data/aclImdb", "--seed", "1"],
                       "line": "python /work/x/train.py --run_dir /tmp/run-3 --lr 0.5/2",
                       "url": "s3://bucket/run", "ratio": "1/2"})
    assert record == {"run": "model/lstm-best.ckpt",
                      "args": ["--aclimdb_path", "…/aclImdb", "--seed", "1"],
                      "line": "python …/train.py --run_dir …/run-3 --lr 0.5/2",
                      "url": "s3://bucket/run", "ratio": "1/2"}


def test_the_load_names_only_this_projects_processes_by_script(monkeypatch):
    """One process of this checkout (`python -m timeit`, run from it) and another program
    (`sleep`, run from /); the list ps gives is cut to these two, since the machine's other
    processes (a test run's own train.py, say) may fill the six places the record keeps."""
    import bench.benchlib
    # Popen returns once the child has started its program: its command line is in place
    ours = subprocess.Popen([sys.executable, "-m", "timeit", "-n", "1", "import time; "
                             "time.sleep(600)"], cwd=ROOT)
    theirs = subprocess.Popen(["sleep", "600"], cwd="/")
    run, pids = subprocess.run, {str(ours.pid), str(theirs.pid)}

    def only_these_two(*args, **kwargs):
        done = run(*args, **kwargs)
        done.stdout = "".join(f"{line}\n" for line in done.stdout.splitlines()
                              if line.split()[0] in pids)
        return done
    try:
        monkeypatch.setattr(bench.benchlib.subprocess, "run", only_these_two)
        load = load_average()
    finally:
        ours.kill(), theirs.kill()
        ours.wait(), theirs.wait()
    assert [process["script"] for process in load["project_processes"]] == ["-m timeit"]
    assert set(load) == {"time", "load_1min", "load_5min", "project_processes"}


def test_the_committed_results_name_no_machine_path_and_no_other_program():
    for path in RESULTS.glob("*.json"):
        text = path.read_text()
        assert portable(json.loads(text)) == json.loads(text), path.name
        assert "top_processes" not in text and "busiest_processes" not in text, path.name


def test_bench_recipes_with_nothing_to_run_says_so_and_leaves_its_results_alone():
    results = ROOT / "bench" / "results" / "recipes.json"
    before = results.read_bytes()
    try:
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_recipes.py"),
                               "--recipes", ""], capture_output=True, text=True, timeout=120)
        after = results.read_bytes()
    finally:
        results.write_bytes(before)  # the committed record, whatever a broken script did
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bench_recipes.py: nothing to run; pass --recipes NAMES or --curve MINUTES"]
    assert after == before
