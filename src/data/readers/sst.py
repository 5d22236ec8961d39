"""The Stanford Sentiment Treebank from its PTB-bracketed trees (train.txt, dev.txt, test.txt):
sentences with their root labels, or every labelled phrase of the train trees (sst_phrases).
SST-5 keeps the five classes; SST-2 maps 0-1 to negative, 3-4 to positive and drops neutral."""
import random
import re

from ...core.errors import UserError
from .labelled_text import Review, read_named_files, unescape_ptb

__all__ = ["read_sst", "tree_phrases", "parse_tree", "graded_phrases"]

SST_FILES = {"train": "train.txt", "valid": "dev.txt", "test": "test.txt"}
_TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def tree_phrases(line, where="tree"):
    """[(label, words)] of every node of one PTB-bracketed SST tree, the root last.

    '(3 (2 It) (4 works))' gives [(2, ['It']), (4, ['works']), (3, ['It', 'works'])].
    Brackets escaped as -LRB-/-RRB- come back as '(' and ')'.
    """
    tokens = _TREE_TOKEN.findall(line)
    words, open_nodes, nodes = [], [], []
    for at, token in enumerate(tokens):
        if token == "(":
            label = tokens[at + 1] if at + 1 < len(tokens) else ""
            if not label.isdigit() or (at and not open_nodes):
                break
            open_nodes.append((int(label), len(words)))
        elif token == ")":
            if not open_nodes:
                break
            label, start = open_nodes.pop()
            nodes.append((label, words[start:]))
        elif tokens[at - 1] != "(":
            words.append(unescape_ptb(token))
    else:
        if nodes and not open_nodes and all(node[1] for node in nodes):
            return nodes
    raise UserError(f"{where}: not a bracketed SST tree like '(3 (2 It) (4 works))'; "
                    f"pass --data_path to trainDevTestTrees_PTB's trees folder")


def parse_tree(line, where="tree"):
    """(root label, leaf words) of one PTB-bracketed SST tree such as '(3 (2 It) (4 works))'."""
    return tree_phrases(line, where)[-1]


def _sst_label(root, classes, where):
    """SST-5 keeps 0..4; SST-2 maps 0-1 to 0 and 3-4 to 1 and drops neutral (None)."""
    if not 0 <= root <= 4:
        raise UserError(f"{where}: root label {root} is outside 0..4; is this an SST tree file?")
    if classes == 5:
        return root
    return None if root == 2 else int(root > 2)


def _read_trees(text, source, classes, phrases=False):
    """Reviews of the sentences (root labels), or of every distinct labelled phrase."""
    reviews, seen = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        nodes = tree_phrases(line, where) if phrases else [parse_tree(line, where)]
        for root, words in nodes:
            label, phrase = _sst_label(root, classes, where), " ".join(words)
            if label is not None and not (phrases and phrase in seen):
                seen.add(phrase)
                reviews.append(Review(phrase, label, where))
    if not reviews:
        raise UserError(f"{source} holds no trees; pass --data_path to the trees folder")
    return reviews


def read_sst(path, classes, phrases=False):
    """SST's train, dev and test trees from path (a folder or .tar.gz): sentences with
    `classes` (5, or 2: neutral dropped) labels, and with phrases every labelled phrase of
    train."""
    texts = read_named_files(path, list(SST_FILES.values()))
    missing = [name for name in SST_FILES.values() if texts[name] is None]
    if missing:
        raise UserError(f"{path} has no {', '.join(missing)}; pass --data_path to SST's "
                        f"trees folder (train.txt, dev.txt, test.txt) or its .tar.gz")
    splits = {split: _read_trees(texts[name], f"{path}/{name}", classes,
                                 phrases=phrases and split == "train")
              for split, name in SST_FILES.items()}
    return {**splits, "unlabelled": []}


def graded_phrases(path, count, seed):
    """Reviews of SST's train trees for mixing into a two-class dataset: every sentence and a
    seeded draw of `count` more distinct phrases, each with its 5-point grade as target
    p(positive) = grade / 4 and as label 0 (grades 0-1), 1 (3-4) or -1 (neutral, no label).
    Only train.txt is read: SST's dev and test trees stay unseen."""
    text = read_named_files(path, [SST_FILES["train"]], "mix_sst_path")[SST_FILES["train"]]
    if text is None:
        raise UserError(f"{path} has no {SST_FILES['train']}; pass --mix_sst_path to SST's "
                        f"trees folder (train.txt, dev.txt, test.txt) or its .tar.gz")
    sentences, phrases = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            nodes = tree_phrases(line, f"{path}/train.txt:{number}")
            sentences.append(nodes[-1])
            phrases.update({" ".join(words): grade for grade, words in nodes[:-1]})
    chosen = {" ".join(words) for _, words in sentences}
    extra = sorted(set(phrases) - chosen)
    random.Random(seed).shuffle(extra)
    graded = [(grade, " ".join(words)) for grade, words in sentences]
    graded += [(phrases[phrase], phrase) for phrase in extra[:count]]
    return [Review(phrase, -1 if grade == 2 else int(grade > 2), f"sst:{i}", target=grade / 4)
            for i, (grade, phrase) in enumerate(graded)]
