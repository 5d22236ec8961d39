r"""Cut the bundled aclImdb sample out of the full aclImdb_v1.tar.gz (maintainers only).

Usage: python scripts/make_sample.py ACLIMDB_TAR_GZ data/aclImdb_sample
       python scripts/make_sample.py unsup UNSUP_TAR_GZ data/aclImdb_sample
       python scripts/make_sample.py glove GLOVE_TXT_GZ data/aclImdb_sample \
           data/glove_sample.50d.txt.gz
Picks a fixed, seeded set of reviews per split and label, keeping the original file names;
the GloVe sample keeps the real vectors of the sample's most frequent words.
Where the archives come from:
- ACLIMDB_TAR_GZ: aclImdb_v1.tar.gz, https://ai.stanford.edu/~amaas/data/sentiment/;
- UNSUP_TAR_GZ: a .tar.gz holding aclImdb/train/unsup/*.txt (aclImdb_v1.tar.gz itself will do;
  the sample was cut from aclImdb_v1_unsup.tar.gz, that folder packed alone);
- GLOVE_TXT_GZ: glove.6B.50d.txt of glove.6B.zip, https://nlp.stanford.edu/projects/glove/,
  gzipped (the bundled sample was cut from a copy named glove.6B.50d.imdb.txt.gz).
"""
import random
import sys
import tarfile
from pathlib import Path

PER_LABEL = {"train": 500, "test": 250}
UNSUP = 1000  # unlabelled reviews (train/unsup), for word2vec and pretraining on the sample


def main(archive: str, out_dir: str) -> None:
    out = Path(out_dir)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for split, count in PER_LABEL.items():
            for label in ("pos", "neg"):
                prefix = f"aclImdb/{split}/{label}/"
                names = sorted(n for n in members if n.startswith(prefix) and n.endswith(".txt"))
                for name in random.Random(f"{split}/{label}").sample(names, count):
                    target = out / split / label / Path(name).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(members[name]).read())


def unsup_sample(archive: str, out_dir: str) -> None:
    """A fixed, seeded set of the unlabelled reviews, keeping their file names."""
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()
                   if m.isfile() and m.name.startswith("aclImdb/train/unsup/")}
        for name in random.Random("unsup").sample(sorted(members), UNSUP):
            target = Path(out_dir) / "train" / "unsup" / Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(members[name]).read())


def glove_sample(glove_gz: str, reviews_dir: str, out_file: str, words: int = 1500) -> None:
    """The GloVe lines of the sample's most frequent words, unchanged (for tests and demos)."""
    import collections
    import gzip
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from src.data.text import tokenize
    counts = collections.Counter()
    labelled = [path for split in PER_LABEL for label in ("pos", "neg")
                for path in (Path(reviews_dir) / split / label).glob("*.txt")]
    for path in labelled:
        counts.update(tokenize(path.read_text(encoding="utf-8")))
    wanted = {word for word, _ in counts.most_common(words)}
    with gzip.open(glove_gz, "rt", encoding="utf-8") as source, \
            gzip.open(out_file, "wt", encoding="utf-8") as target:
        for line in source:
            if line.split(" ", 1)[0] in wanted:
                target.write(line)


USAGE = {"glove": 4, "unsup": 3, None: 2}  # the arguments each form takes


def _usage_or_none(argv):
    """The exit status to stop with (0 for -h/--help, 2 for a wrong form), or None to go on."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        return 0
    form = argv[0] if argv and argv[0] in USAGE else None
    if len(argv) != USAGE[form] + (form is not None):
        print(__doc__.strip().split("\n\n", 1)[1].split("Picks")[0].strip(), file=sys.stderr)
        return 2
    return None


if __name__ == "__main__":
    status = _usage_or_none(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    if sys.argv[1] == "glove":
        glove_sample(*sys.argv[2:5])
    elif sys.argv[1] == "unsup":
        unsup_sample(*sys.argv[2:4])
    else:
        main(*sys.argv[1:3])
