"""Accuracy on whole reviews and on single sentences: aclImdb's test reviews, SST-2 and SST-5
dev and test sentences, and how often neutral sentences read neutral, for one or more trained
runs side by side with NBSVM and VADER in the same run.

Usage: .venv/bin/python bench/bench_sentences.py --aclimdb_path PATH [--sst_path PATH]
           [--run_dir model [--run_dir OTHER ...]] [--peers nbsvm,vader | --peers none]
           [--peer_python .bench-venv/bin/python] [--limit N] [--result_name sentences]

Every system gives p = p(positive) of each text. Measured, in percent:
- aclImdb test: every test review of --aclimdb_path (folder or aclImdb_v1.tar.gz), right
  when p > 0.5 (the larger of the two classes) matches its label;
- SST-2 dev / test: the sentences (tree roots) of SST's dev.txt and test.txt whose grade is not
  2; grades 0-1 are negative, 3-4 positive, read as for aclImdb;
- SST-5 dev / test: every sentence, its grade read from p as the nearest of 0, 0.25, 0.5, 0.75,
  1 (cut points 0.125, 0.375, 0.625, 0.875; a cut point goes to the grade above). The reading
  is fixed, not fitted: the model is trained with grade / 4 as the soft target p(positive) of
  SST sentences, so grade / 4 is what its p aims at, and nothing is tuned on any split;
- neutral read neutral: the share of grade-2 sentences whose p lies in NEUTRAL_BAND, [1/3, 2/3]
  (the default neutral band of predict.py and the page); polar not neutral: the share of
  grade 0, 1, 3 and 4 sentences whose p lies outside it.
The table shows the test split's neutral shares; the JSON has dev and test for every number
and the counts of each split. Only SST's dev.txt and test.txt are read, never train.txt.

Systems: each --run_dir (the project's predictor, onnxruntime backend; named by its folder),
and the peers, run by the peers' interpreter as one child (bench/behaviour_peers.py): NBSVM
(bench/sklearn_peer.py's recipe, fitted on aclImdb's training reviews only; p = predict_proba)
and VADER (its compound score mapped onto p so that its own neutral zone is NEUTRAL_BAND).
Peers get the same readings of p. --limit N keeps N evenly spaced items of every split read
(aclImdb train and test, SST dev and test), both labels included, for quick checks.
Writes bench/results/RESULT_NAME.json (sentences.json by default).
"""
import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_behaviour import (NEUTRAL_BAND, add_system_options, check_systems,  # noqa: E402
                                   systems_p)
from bench.benchlib import load_average, machine, print_table, write_result  # noqa: E402

SST5_CUTS = (0.125, 0.375, 0.625, 0.875)  # nearest of 0, 0.25, 0.5, 0.75, 1
SST_FILES = {"sst_dev": "dev.txt", "sst_test": "test.txt"}
COLUMNS = {"aclimdb_test": "aclImdb test %", "sst2_dev": "SST-2 dev %",
           "sst2_test": "SST-2 test %", "sst5_dev": "SST-5 dev %", "sst5_test": "SST-5 test %",
           "neutral_read_neutral_test": "neutral read neutral % (test)",
           "polar_not_neutral_test": "polar not neutral % (test)", "seconds": "seconds"}


@dataclass
class Split:
    """The texts of one split with their labels: 0/1 for aclImdb, the grade 0..4 for SST."""
    name: str
    texts: list
    labels: list


# ---------------------------------------------------------------- data
def evenly(items, limit):
    """limit items of items, evenly spaced (every one when limit is 0 or not smaller)."""
    if not limit or limit >= len(items):
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def read_reviews(path, limit):
    """(aclImdb's training reviews as [text, label] pairs, its test Split), each split cut to
    limit reviews."""
    from src.data.readers.aclimdb import read_aclimdb
    splits = read_aclimdb(path)
    train, test = evenly(splits["train"], limit), evenly(splits["test"], limit)
    return ([[r.text, r.label] for r in train],
            Split("aclimdb_test", [r.text for r in test], [r.label for r in test]))


def read_sst(path, limit):
    """The Splits of SST's dev.txt and test.txt sentences (tree roots, words joined by
    spaces), each cut to limit sentences."""
    from src.core.errors import UserError
    from src.data.readers.labelled_text import read_named_files
    from src.data.readers.sst import parse_tree
    files = read_named_files(path, list(SST_FILES.values()))
    splits = []
    for name, file in SST_FILES.items():
        if files[file] is None:
            raise UserError(f"{path} holds no {file}; pass --sst_path to SST's trees folder or "
                            f"sst_trainDevTestTrees_PTB.tar.gz")
        lines = [(number, line) for number, line in enumerate(files[file].splitlines(), 1)
                 if line.strip()]
        trees = [parse_tree(line, f"{file}:{number}") for number, line in evenly(lines, limit)]
        splits.append(Split(name, [" ".join(words) for _, words in trees],
                            [grade for grade, _ in trees]))
    return splits


def counts(splits, train):
    """The number of texts of each split (SST's by grade, SST-2's and the neutral ones too)."""
    found = {"aclimdb_train": len(train)} if train else {}
    for split in splits:
        labels = np.asarray(split.labels)
        kind = "grade" if split.name.startswith("sst") else "label"
        found[split.name] = {"texts": len(labels), **{f"{kind}_{k}": int((labels == k).sum())
                                                      for k in sorted(set(split.labels))}}
        if kind == "grade":
            found[split.name].update(sst2=int((labels != 2).sum()),
                                     neutral=int((labels == 2).sum()))
    return found


# ---------------------------------------------------------------- readings of p
def percent(hits):
    """The share of True in hits as a percentage (2 decimals), None when there is none."""
    return round(100 * float(np.mean(hits)), 2) if len(hits) else None


def five_way(p):
    """The SST-5 grade 0..4 read from p: the nearest of 0, 0.25, 0.5, 0.75, 1."""
    return np.digitize(p, SST5_CUTS)


def in_band(p):
    """Whether each p lies in NEUTRAL_BAND (edges included), i.e. reads neutral."""
    low, high = NEUTRAL_BAND
    return (p >= low) & (p <= high)


def sst_scores(p, grades, suffix):
    """SST-2 and SST-5 accuracy and the neutral shares of one SST split, in percent."""
    polar = grades != 2
    return {f"sst2{suffix}": percent((p[polar] > 0.5) == (grades[polar] > 2)),
            f"sst5{suffix}": percent(five_way(p) == grades),
            f"neutral_read_neutral{suffix}": percent(in_band(p[~polar])),
            f"polar_not_neutral{suffix}": percent(~in_band(p[polar]))}


def scores(p, splits):
    """Every number of one system, given p of the texts of all splits in order."""
    found, start = {}, 0
    for split in splits:
        part, labels = np.asarray(p[start:start + len(split.texts)]), np.asarray(split.labels)
        start += len(split.texts)
        if split.name == "aclimdb_test":
            found["aclimdb_test"] = percent((part > 0.5) == (labels == 1))
        else:
            found.update(sst_scores(part, labels, split.name[len("sst"):]))
    return found


def scaled(p, scale):
    """p(positive) with the logit margin times scale: sigmoid(scale * logit(p))."""
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return 1 / (1 + np.exp(-scale * np.log(p / (1 - p))))


def three_way(p, grades):
    """Balanced accuracy of the verdict (negative / neutral / positive by NEUTRAL_BAND) against
    SST's grades read as negative (0-1), neutral (2), positive (3-4): the mean of the three
    classes' recalls, so that the neutral minority (a fifth of dev) weighs as much as each
    pole."""
    low, high = NEUTRAL_BAND
    read = np.where(p < low, 0, np.where(p > high, 2, 1))
    truth = np.where(grades < 2, 0, np.where(grades == 2, 1, 2))
    return float(np.mean([np.mean(read[truth == c] == c) for c in range(3)]))


def choose_scale(p, grades, scales):
    """The logit scale the verdict takes, chosen on SST dev: the smallest whose balanced 3-way
    accuracy is within one standard error of the best (the one-standard-error rule: no
    sharper than the validation sentences can tell apart). Returns (chosen, {scale: %})."""
    accuracy = {scale: three_way(scaled(p, scale), grades) for scale in scales}
    best = max(accuracy.values())
    error = np.sqrt(best * (1 - best) / len(grades))
    chosen = min(scale for scale, value in accuracy.items() if value >= best - error)
    return chosen, {scale: round(100 * value, 2) for scale, value in accuracy.items()}


def calibrations(p_lists, splits, scales, systems):
    """{system: {"chosen": scale, "dev_3way": {scale: %}}} of the project's models."""
    dev = next((split for split in splits if split.name == "sst_dev"), None)
    if dev is None or not scales:
        return {}
    start = sum(len(split.texts) for split in splits[:splits.index(dev)])
    found = {}
    for name in systems:
        part = np.asarray(p_lists[name][start:start + len(dev.texts)])
        chosen, by_scale = choose_scale(part, np.asarray(dev.labels), scales)
        found[name] = {"chosen": chosen, "dev_3way": by_scale}
    return found


# ---------------------------------------------------------------- main
def parse(argv=None):
    """The options, checked: the peers need --peer_python."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aclimdb_path", type=Path, required=True,
                        help="aclImdb folder or aclImdb_v1.tar.gz: its test reviews are scored, "
                             "its training reviews fit NBSVM")
    parser.add_argument("--sst_path", type=Path,
                        help="SST's trees folder or sst_trainDevTestTrees_PTB.tar.gz (dev.txt "
                             "and test.txt are read); without it, no SST numbers")
    add_system_options(parser)
    parser.add_argument("--scales", default="",
                        help="logit scales to weigh for the models' verdicts on SST dev, e.g. "
                             "1,1.5,2,2.5,3,4,5 (the one-standard-error rule chooses; "
                             "scripts/ship_model.py --logit_scale folds the choice in)")
    parser.add_argument("--limit", type=int, default=0,
                        help="keep this many evenly spaced items of each split (0: all)")
    parser.add_argument("--result_name", default="sentences",
                        help="write bench/results/RESULT_NAME.json (use another name for "
                             "sample runs)")
    options = parser.parse_args(argv)
    check_systems(parser, options)
    if options.limit < 0:
        parser.error("--limit must be 0 (all) or more")
    return options


def table_rows(results, about):
    """One row per system: its numbers under the table's column names."""
    return [{"system": name, **{title: about[name]["seconds"] if key == "seconds"
                                else "" if found.get(key) is None else f"{found[key]:.2f}"
                                for key, title in COLUMNS.items()}}
            for name, found in results.items()]


def run(options):
    """(splits, {system: scores}, {system: what it is}, the training reviews)."""
    train, test = read_reviews(options.aclimdb_path, options.limit)
    splits = [test] + (read_sst(options.sst_path, options.limit) if options.sst_path else [])
    texts = [text for split in splits for text in split.texts]
    p_lists, about = systems_p(options, texts, NEUTRAL_BAND, train)
    scales = [float(s) for s in options.scales.split(",") if s]
    models = [name for name in p_lists if name not in ("nbsvm", "vader")]
    for name, found in calibrations(p_lists, splits, scales, models).items():
        about[name]["logit_scale"] = found
        print(f"{name}: SST dev balanced 3-way accuracy by logit scale {found['dev_3way']}; "
              f"chosen {found['chosen']}")
    return splits, {name: scores(p, splits) for name, p in p_lists.items()}, about, train


def main(argv=None):
    """Score every system on every split, print the table, write the JSON."""
    from src.core.errors import UserError
    options = parse(argv)
    try:
        splits, results, about, train = run(options)
    except UserError as err:
        sys.exit(f"error: {err}")
    print_table(table_rows(results, about), ["system", *COLUMNS.values()])
    path = write_result(options.result_name, {
        "options": {"run_dirs": [str(r) for r in options.run_dir], "peers": options.peers,
                    "aclimdb": options.aclimdb_path.name,
                    "sst": options.sst_path and options.sst_path.name, "limit": options.limit,
                    "neutral_band": list(NEUTRAL_BAND), "sst5_cuts": list(SST5_CUTS)},
        "counts": counts(splits, train if "nbsvm" in options.peers else None),
        "percent": results, "systems": about,
        "machine": machine(), "load": load_average()})
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
