"""How the code is laid out: modules of src/ import only downward (no cycle, imports inside
functions included), each is short, entry scripts fail on a bad config before MindSpore is
imported, and every temporary file a writer can leave behind is cleaned up."""
import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_script

SRC = ROOT / "src"
MAX_LINES = 330


def _imports(path):
    """The src modules path imports, anywhere in the file (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "src":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("src."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("src.")}
    return found


def _cycle(graph):
    """One import cycle of graph as a list of modules, or None."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                found = visit(other)
                if found:
                    return found
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_src_modules_import_only_downward():
    modules = {path.stem: path for path in SRC.glob("*.py") if path.stem != "__init__"}
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_module_of_src_is_short():
    long = {path.name: n for path in SRC.glob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


@pytest.mark.parametrize("script", ["train.py", "eval.py", "export.py", "predict.py",
                                    "preprocess.py", "app.py"])
def test_a_bad_config_fails_before_mindspore_is_imported(script):
    code = ("import runpy, sys\n"
            f"sys.argv = [{script!r}, '--batch_size', '0']\n"
            "try:\n"
            f"    runpy.run_path({str(ROOT / script)!r}, run_name='__main__')\n"
            "except SystemExit as stop:\n"
            "    print('exit', stop.code, 'mindspore' in sys.modules)\n")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "exit 2 False", done.stdout + done.stderr
    assert "'batch_size' must be positive" in done.stderr
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("name", ["config.yaml", "vocab.json", "metrics.jsonl", "eval.json",
                                  "lstm-1_10.ckpt", "train.mindrecord"])
def test_a_killed_writers_temp_file_is_removed_by_the_next_run(name, tmp_path):
    # a writer killed inside files.atomic_path, with its temp file half written
    code = ("import os, sys; from src.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); os._exit(9)\n")
    target = tmp_path / name
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, timeout=60)
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(f".{name}.tmp-"), left
    from src.files import remove_temp_files
    remove_temp_files(tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_live_writers_temp_file_is_kept_until_the_writer_dies(tmp_path):
    """Another process still inside atomic_path (asleep there) keeps its temp file through a
    clean-up, as this process keeps its own; once the writer is killed, the next clean-up
    removes its file."""
    from src.files import remove_temp_files, temp_path
    code = ("import sys, time; from src.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('being written'); print(tmp, flush=True); time.sleep(300)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "vocab.json")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        theirs = Path(writer.stdout.readline().strip())
        mine = temp_path(tmp_path / "config.yaml")
        mine.write_text("being written")
        remove_temp_files(tmp_path)
        assert theirs.exists() and mine.exists(), list(tmp_path.iterdir())
    finally:
        writer.kill()
        writer.wait(timeout=60)
    remove_temp_files(tmp_path)
    assert sorted(tmp_path.iterdir()) == [mine]


def test_help_lists_every_key_by_group_with_its_default_and_help():
    from src.config import Config
    import dataclasses
    done = run_script("train.py", "--help")
    assert done.returncode == 0
    for field in dataclasses.fields(Config):
        if field.name != "config_path":
            assert f"--{field.name} " in done.stdout, field.name
    assert "training:\n  --batch_size 64" in done.stdout
    assert "peak learning rate" in done.stdout and "[adam | momentum]" in done.stdout
