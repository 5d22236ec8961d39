"""How the code is laid out: modules of src/ import only downward (no cycle, imports inside
functions included), each is short, entry scripts fail on a bad config before MindSpore is
imported, and every temporary file a writer can leave behind is cleaned up."""
import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

SRC = ROOT / "src"
MAX_LINES = 330


# Each package imports only from the packages before it here (cloud stands beside the stages,
# on core alone); inside a package, modules import one another without a cycle.
PACKAGE_ORDER = {"core": 0, "cloud": 1, "data": 1, "model": 2, "training": 3, "inference": 3}
ALLOWED = {"cloud": {"core"}, "training": {"core", "data", "model"},
           "inference": {"core", "data", "model"}}


def _module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path):
    """The src modules path imports, anywhere in the file (inside functions too), with
    relative imports resolved."""
    own = _module_name(path).split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = own[:len(own) - node.level] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module.startswith("src"):
                found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("src.")}
    return found


def _src_graph():
    modules = {_module_name(path): path for path in SRC.rglob("*.py")
               if path.stem != "__init__"}
    return {name: (_imports(path) & set(modules)) - {name} for name, path in modules.items()}


def _package(module):
    return module.split(".")[1]


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
    graph = _src_graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_src_packages_import_only_the_stages_below_them():
    upward = sorted(f"{module} -> {other}" for module, imported in _src_graph().items()
                    for other in imported
                    if _package(other) != _package(module)
                    and _package(other) not in ALLOWED.get(_package(module),
                                                           _stages_below(_package(module))))
    assert not upward, upward
    assert set(_src_graph()) > {"src.core.errors", "src.model.network", "src.inference.serve"}


def _stages_below(package):
    return {other for other, floor in PACKAGE_ORDER.items()
            if floor < PACKAGE_ORDER[package] and other != "cloud"}


def test_every_module_of_src_is_short():
    long = {path.name: n for path in SRC.rglob("*.py")
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
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "exit 2 False", done.stdout + done.stderr
    assert "'batch_size' must be positive" in done.stderr


@pytest.mark.parametrize("name", ["config.yaml", "vocab.json", "metrics.jsonl", "eval.json",
                                  "lstm-1_10.ckpt", "train.mindrecord"])
def test_a_killed_writers_temp_file_is_removed_by_the_next_run(name, tmp_path):
    # a writer killed inside files.atomic_path, with its temp file half written
    code = ("import os, sys; from src.core.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); os._exit(9)\n")
    target = tmp_path / name
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, timeout=60)
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(f".{name}.tmp-"), left
    from src.core.files import remove_temp_files
    remove_temp_files(tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_live_writers_temp_file_is_kept_until_the_writer_dies(tmp_path):
    """Another process still inside atomic_path (asleep there) keeps its temp file through a
    clean-up, as this process keeps its own; once the writer is killed, the next clean-up
    removes its file."""
    from src.core.files import remove_temp_files, temp_path
    code = ("import sys, time; from src.core.files import atomic_path\n"
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
