"""The README's example outputs and its Performance table, produced from the shipped model.

    .venv/bin/python scripts/readme_examples.py            # print every block
    .venv/bin/python scripts/readme_examples.py --write    # rewrite them in README.md in place
    .venv/bin/python scripts/readme_examples.py --check    # exit 1 if README.md differs

README.md holds each block between `<!-- example: NAME -->` and `<!-- /example -->` (the
table between `<!-- table: performance -->` and `<!-- /table -->`); the text between the
markers is exactly what this script writes, and tests/test_readme.py fails when it differs
from what the script produces now. After model/ (or bench/results/) changes, rerun with
--write: nothing else in the README quotes the shipped model's outputs.

predict.py's examples run its own main() in this process with --backend onnxruntime, the
predictor loaded once for all of them; the Python example runs in a subprocess from the
repository root, as a user runs it; the table reads model/eval.json and bench/results/.
"""
import argparse
import contextlib
import csv
import dataclasses
import io
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"
PYTHON = ".venv/bin/python"

# <!-- example: NAME --> ... <!-- /example -->, <!-- table: NAME --> ... <!-- /table -->
BLOCK = re.compile(r"(<!-- (example|table): ([\w-]+) -->\n)(.*?)(<!-- /\2 -->)", re.S)

# predict.py's examples: the command lines as the README shows them (a trailing backslash
# continues a line), run as they read
PREDICT_EXAMPLES = {
    "predict": [
        f'{PYTHON} predict.py --backend onnxruntime "A moving, beautifully acted film." "Dull." \\',
        '    "Some parts worked, others did not." "Das war ein schlechter Film."',
    ],
    "explain": [
        f'{PYTHON} predict.py --backend onnxruntime --explain true \\',
        '    "A slow start, but the acting is superb and the ending moved me to tears."',
    ],
    "csv": [
        f"{PYTHON} predict.py --backend onnxruntime --input_file reviews.csv --text_column text "
        "--output_format csv",
    ],
}
# the table the csv example reads, shown with `cat reviews.csv`
CSV_ROWS = [["id", "text"],
            ["r1", "A moving, beautifully acted film."],
            ["r2", "Some parts worked, others did not."],
            ["r3", "Das war ein schlechter Film."]]

PYTHON_EXAMPLE = '''\
from src import load    # after `pip install -e .`, from any folder: from lstm_sentiment import load
clf = load()            # the model in model/, on onnxruntime; load("RUN_DIR") for a run of train.py
for result in clf.predict(["A moving, beautifully acted film.", "Das war ein schlechter Film."]):
    p = result.probabilities["positive"]
    print(f"{result.verdict}: label {result.label}, p(positive)={p:.4f} {result.reason}".rstrip())
result = clf.explain("A slow start, but the acting is superb.")
strongest = sorted(result.explanation, key=lambda pair: -abs(pair[1]))[:3]
print(result.verdict, ", ".join(f"{token} {score:+.3f}" for token, score in strongest))
'''

# predict.py keys that only choose its input and output, never the predictor
IO_KEYS = {"input_file", "output_format", "text_column", "id_column", "explain"}


def command_argv(lines):
    """The words after `python predict.py` of a command shown on these lines."""
    words = shlex.split(" ".join(line.rstrip("\\").strip() for line in lines))
    assert words[:2] == [PYTHON, "predict.py"], words[:2]
    return words[2:]


def console(*commands):
    """A console block of (command lines, output) pairs: `$ ` before each command's first line,
    its continuation lines, then its output."""
    shown = []
    for lines, output in commands:
        shown += [f"$ {lines[0]}", *lines[1:]]
        shown.append(output.rstrip("\n"))
    return "```console\n" + "\n".join(shown) + "\n```\n"


@contextlib.contextmanager
def one_predictor_load():
    """predict.main's load_predictor, loading once per predictor setting (the examples differ
    only in their input and output keys, so they share one model)."""
    from src.inference import predictor as module
    load, loaded = module.load_predictor, {}

    def cached(config, *args, **kwargs):
        key = repr(sorted((name, value) for name, value in dataclasses.asdict(config).items()
                          if name not in IO_KEYS)) + repr((args, kwargs))
        if key not in loaded:
            loaded[key] = load(config, *args, **kwargs)
        return loaded[key]

    module.load_predictor = cached
    try:
        yield
    finally:
        module.load_predictor = load


def run_predict(argv):
    """predict.py's stdout for these words, run by its own main() in this process."""
    import predict
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = predict.main(argv, out=out)
    except SystemExit as exit_:
        code = exit_.code
    if code:
        raise RuntimeError(f"predict.py {shlex.join(argv)} failed ({code}): {err.getvalue()}")
    return out.getvalue()


def predict_blocks():
    """{name: block} of predict.py's examples."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    blocks = {}
    with tempfile.TemporaryDirectory(prefix="readme-") as folder, one_predictor_load():
        table = Path(folder) / "reviews.csv"
        with open(table, "w", encoding="utf-8", newline="") as stream:
            csv.writer(stream, lineterminator="\n").writerows(CSV_ROWS)
        for name, lines in PREDICT_EXAMPLES.items():
            argv = [str(table) if word == "reviews.csv" else word for word in command_argv(lines)]
            output = run_predict(argv)
            shown = [(["cat reviews.csv"], table.read_text(encoding="utf-8"))] if name == "csv" else []
            blocks[name] = console(*shown, (lines, output))
    return blocks


def python_block(output):
    """The Python example's block: the code, then what it prints."""
    return f"```python\n{PYTHON_EXAMPLE}```\nprints\n```text\n{output}```\n"


def shown_python(block):
    """(code, output) a Python example block shows."""
    code, output = re.fullmatch(r"```python\n(.*?)```\nprints\n```text\n(.*?)```\n",
                                block, re.S).groups()
    return code, output


# ---- the Performance table, from model/eval.json and bench/results/

def _json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _percent(value, digits=2):
    return f"{100 * value:.{digits}f} %"


def _quartiles(values):
    return " / ".join(f"{100 * v:.1f}" for v in values)


def _row(rows, recipe, seed):
    found = [r for r in rows if r["recipe"] == recipe and r.get("seed") == seed]
    if not found:
        raise RuntimeError(f"bench/results/recipes.json has no row {recipe} seed {seed}")
    return found[-1]


def performance_table():
    shipped = _json(ROOT / "model" / "eval.json")
    recipes = _json(RESULTS / "recipes.json")
    default = [_row(recipes["rows"], "default", seed) for seed in (1, 2)]
    nbsvm, tfidf = (_row(recipes["rows"], name, 0) for name in ("nbsvm", "tfidf"))
    original = next(r for r in _json(RESULTS / "accuracy.json")["rows"] if r["run"] == "original")
    behaviour = _json(RESULTS / "behaviour.json")
    sst = _json(RESULTS / "sentences.json")["percent"]
    trained = _row(recipes["rows"], shipped.get("recipe", "default"), shipped.get("seed", 0))
    overall = next(c for c in behaviour["capabilities"] if c["capability"] == "overall")
    machine = recipes["machine"]
    bounds = recipes["quartile_word_bounds"]

    def both(key, form):
        return " / ".join(form(r[key]) for r in default)

    def minutes(seconds):
        return f"{seconds / 60:.1f} min"

    def seconds(value):
        return f"{value:.0f} s"

    header = ["", "`model/` (shipped)", "default recipe, seeds 1 / 2", "original zoo recipe",
              "NBSVM (peer)", "TF-IDF + LR (peer)", "VADER (peer)"]
    rows = [
        ["what", f"the `{shipped.get('recipe', 'default')}` recipe, seed {shipped.get('seed', '-')}",
         "`default_config.yaml`: from `model/encoder/`, whole reviews, the linear part",
         "`config_original.yaml`: GloVe 50-d frozen, 2 x BiLSTM 100, 20 epochs",
         "binarised uni+bigrams, NB-scaled, liblinear", "uni+bigrams TF-IDF, logistic regression",
         "lexicon and rules, no training"],
        ["aclImdb test accuracy (25,000 reviews)", f"**{_percent(shipped['accuracy'])}**",
         both("test_acc", _percent), _percent(original["test_acc"]), _percent(nbsvm["test_acc"]),
         _percent(tfidf["test_acc"]), "-"],
        [f"by length quartile (words <= {bounds[0]} / <= {bounds[1]} / <= {bounds[2]} / more)",
         _quartiles(shipped["accuracy_by_length_quartile"]),
         _quartiles([sum(q) / 2 for q in zip(*(r["test_acc_by_length_quartile"]
                                               for r in default))]) + " (mean)",
         "-", _quartiles(nbsvm["test_acc_by_length_quartile"]),
         _quartiles(tfidf["test_acc_by_length_quartile"]), "-"],
        ["SST-2 / SST-5 test (sentences; SST-5: p read as the nearest of 0, .25, ... 1)",
         f"{sst['model']['sst2_test']:.1f} % / {sst['model']['sst5_test']:.1f} %", "-", "-",
         f"{sst['nbsvm']['sst2_test']:.1f} % / {sst['nbsvm']['sst5_test']:.1f} %", "-",
         f"{sst['vader']['sst2_test']:.1f} % / {sst['vader']['sst5_test']:.1f} %"],
        ["training time, 2 cores", minutes(trained["train_s"]), both("train_s", minutes),
         minutes(original["train_s"]),
         seconds(nbsvm["train_s"]), seconds(tfidf["train_s"]), "-"],
        ["training peak memory", f"{trained['train_peak_rss_gb']:.2f} GB",
         both("train_peak_rss_gb", lambda gb: f"{gb:.2f} GB"),
         "-", "-", "-", "-"],
        [f"behavioural tests failed ({overall['tests']} tests, {overall['cases']:,} cases, mean)",
         _percent(overall["model"], 1), "-", "-", _percent(overall["nbsvm"], 1), "-",
         _percent(overall["vader"], 1)],
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append(f"{machine['cpus']}-core x86 CPU, MindSpore {machine['mindspore']}, Python "
                 f"{machine['python']}; from `model/eval.json` and `bench/results/`")
    lines.append("(`recipes.json`, `accuracy.json`, `behaviour.json`, `sentences.json`).")
    return "\n".join(lines) + "\n"


# ---- README.md

def produce(python_code=PYTHON_EXAMPLE):
    """{name: block text} of every block, as the README should hold them now. The Python
    example's output is python_code's (the README's own code, for the test), run from the
    repository root in a fresh interpreter while predict.py's examples run here."""
    process = subprocess.Popen([sys.executable, "-c", python_code], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        blocks = predict_blocks()
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode:
        raise RuntimeError(f"the README's Python example failed:\n{err[-3000:]}")
    blocks["python"] = python_block(out)
    blocks["performance"] = performance_table()
    return blocks


def readme_blocks(text):
    """{name: the text between its markers} of README text."""
    return {match.group(3): match.group(4) for match in BLOCK.finditer(text)}


def rewrite(text, blocks):
    """README text with each marked block replaced by blocks[name]."""
    names = list(readme_blocks(text))
    missing, unknown = set(blocks) - set(names), set(names) - set(blocks)
    if missing or unknown:
        raise SystemExit(f"README.md: markers missing for {sorted(missing)}, unknown markers "
                         f"{sorted(unknown)}")
    return BLOCK.sub(lambda m: m.group(1) + blocks[m.group(3)] + m.group(5), text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs")
    args = parser.parse_args(argv)
    blocks = produce()
    text = README.read_text(encoding="utf-8")
    if args.write or args.check:
        new = rewrite(text, blocks)                     # every marker there, none unknown
        stale = [name for name, block in readme_blocks(text).items() if block != blocks[name]]
        if args.write and stale:
            README.write_text(new, encoding="utf-8")
        done = "rewrote" if args.write else "stale"
        print(f"README.md: {done} {', '.join(stale)}" if stale else
              "README.md: every block is current")
        return 1 if stale and args.check else 0
    for name, block in blocks.items():
        print(f"<!-- {name} -->\n{block}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
