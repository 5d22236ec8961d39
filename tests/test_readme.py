"""README.md is a short guide whose example outputs are true today: every marked block is what
scripts/readme_examples.py produces now from the shipped model (predict.py's examples in this
process, the model loaded once, on onnxruntime; the Python example run in a subprocess from the
repository root, as a user runs it). A stale example fails here; rerun
`scripts/readme_examples.py --write` to refresh them."""
import importlib.util
import re

import pytest

from conftest import ROOT

README = ROOT / "README.md"
MAX_LINES = 300


def _load_script():
    spec = importlib.util.spec_from_file_location("readme_examples",
                                                  ROOT / "scripts" / "readme_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


examples = _load_script()


@pytest.fixture(scope="module")
def readme():
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shown(readme):
    return examples.readme_blocks(readme)


@pytest.fixture(scope="module")
def produced(shown):
    """Every block as the script produces it now; the Python example's output is that of the
    code the README shows (run in a subprocess while predict.py's examples run here)."""
    assert "python" in shown, "README.md has no <!-- example: python --> block"
    code, _ = examples.shown_python(shown["python"])
    return examples.produce(python_code=code)


def test_the_readme_is_at_most_300_lines(readme):
    lines = len(readme.splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the guide keeps to {MAX_LINES}"


def test_every_example_block_is_what_the_script_produces_now(shown, produced):
    assert set(shown) == set(produced), (
        f"README.md's blocks {sorted(shown)} differ from the script's {sorted(produced)}")
    stale = [name for name in produced if shown[name] != produced[name]]
    assert not stale, (
        f"README.md's blocks {stale} are stale; run `.venv/bin/python scripts/readme_examples.py "
        f"--write`. First one now reads:\n{produced[stale[0]]}")


def test_the_python_example_runs_and_prints_what_the_readme_shows(shown, produced):
    code, printed = examples.shown_python(shown["python"])
    _, output = examples.shown_python(produced["python"])   # the README's own code, run now
    assert code == examples.PYTHON_EXAMPLE
    assert output == printed, f"the README's Python example now prints:\n{output}"


def test_the_probabilities_are_printed_with_four_decimals(shown):
    for name in ("predict", "explain", "python"):
        found = re.findall(r"p\((?:positive|negative)\)=(\d+\.\d+)", shown[name])
        assert found and all(len(p.split(".")[1]) == 4 for p in found), (name, found)


def test_no_line_names_a_machine_path_a_run_date_or_a_session(readme):
    rules = {"a /tmp/ path": r"/tmp/", "../shared": r"\.\./shared",
             "a date": r"\b20\d\d-(0[1-9]|1[0-2])\b", "a session": r"\bsessions?\b",
             "a scratch script": r"\bscratch\b"}
    found = [f"line {number} names {what}: {line.strip()}"
             for number, line in enumerate(readme.splitlines(), 1)
             for what, pattern in rules.items() if re.search(pattern, line, re.I)]
    assert not found, "\n".join(found)


def test_the_readme_links_to_files_that_exist(readme):
    linked = re.findall(r"\]\(((?:docs|bench)/[^)#]+)", readme)
    assert linked
    missing = [path for path in linked if not (ROOT / path).exists()]
    assert not missing, missing
