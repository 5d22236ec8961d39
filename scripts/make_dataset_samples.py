r"""Cut the bundled Kaggle-phrases and SST samples out of the full archives (maintainers only).

Usage: python scripts/make_dataset_samples.py phrases \
           kaggle_sentiment-analysis-on-movie-reviews.tar.gz data/phrases_sample
       python scripts/make_dataset_samples.py sst sst_trainDevTestTrees_PTB.tar.gz data/sst_sample
The archives, as .tar.gz holding the files at any depth: Kaggle's train.tsv and test.tsv
(https://www.kaggle.com/c/sentiment-analysis-on-movie-reviews), SST's train.txt, dev.txt and
test.txt (trainDevTestTrees_PTB.zip, https://nlp.stanford.edu/sentiment/).
Seeded and reproducible. Phrases: whole sentences (every phrase of a chosen SentenceId, in the
original row order) in the exact Kaggle TSV format. SST: whole tree lines, original order.
"""
import random
import sys
import tarfile
from pathlib import Path

PHRASE_SENTENCES = {"train.tsv": 200, "test.tsv": 30}
SST_TREES = {"train.txt": 400, "dev.txt": 100, "test.txt": 200}


def _members(archive):
    """{file name: text} of every file in a .tar.gz archive."""
    with tarfile.open(archive) as tar:
        return {m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read().decode("utf-8")
                for m in tar if m.isfile()}


def phrases_sample(archive, out_dir):
    """Every phrase row of a seeded choice of sentences from train.tsv and test.tsv."""
    files = _members(archive)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, count in PHRASE_SENTENCES.items():
        header, *rows = files[name].splitlines(keepends=True)
        sentences = sorted({row.split("\t")[1] for row in rows}, key=int)
        chosen = set(random.Random(f"phrases/{name}").sample(sentences, count))
        kept = [row for row in rows if row.split("\t")[1] in chosen]
        (out / name).write_text(header + "".join(kept), encoding="utf-8")


def sst_sample(archive, out_dir):
    """A seeded choice of whole trees from train.txt, dev.txt and test.txt."""
    files = _members(archive)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, count in SST_TREES.items():
        lines = files[name].splitlines(keepends=True)
        chosen = sorted(random.Random(f"sst/{name}").sample(range(len(lines)), count))
        (out / name).write_text("".join(lines[i] for i in chosen), encoding="utf-8")


if __name__ == "__main__":
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    if len(sys.argv) != 4 or sys.argv[1] not in ("phrases", "sst"):
        print(__doc__.strip().split("\n\n", 1)[1].split("The archives")[0].strip(),
              file=sys.stderr)
        sys.exit(2)
    {"phrases": phrases_sample, "sst": sst_sample}[sys.argv[1]](*sys.argv[2:4])
