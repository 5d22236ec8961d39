"""What the project has besides its code: the Apache-2.0 LICENSE, a CITATION.cff, and one
version (src/core/version.py) that pyproject.toml, predict.py --version, the page and the model
card all report."""
import io
import sys
import tomllib
from types import SimpleNamespace

import yaml

from conftest import ROOT, run_script
from src import __version__

NAMED = f"lstm-sentiment {__version__}"


def test_the_license_is_the_whole_apache_2_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License")
    for part in ("Version 2.0, January 2004", "http://www.apache.org/licenses/",
                 "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
                 "1. Definitions.", "4. Redistribution.", "9. Accepting Warranty or Additional "
                 "Liability.", "END OF TERMS AND CONDITIONS",
                 "APPENDIX: How to apply the Apache License to your work."):
        assert part in text, part
    assert len(text.split()) > 1500  # the whole text, not a notice


def test_the_citation_file_is_cff_1_2_with_the_version_and_its_references():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"] == "lstm-sentiment"
    assert cff["authors"] and all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert cff["version"] == __version__  # a string, as CFF wants it
    assert cff["license"] == "Apache-2.0" and cff["type"] == "software"
    titles = {ref["title"]: ref for ref in cff["references"]}
    for ref in cff["references"]:
        assert ref["type"] and ref["authors"], ref["title"]
        assert isinstance(ref.get("year", 0), int), ref["title"]
    for title in ("Learning Word Vectors for Sentiment Analysis",
                  "Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank",
                  "GloVe: Global Vectors for Word Representation", "Long Short-Term Memory",
                  "MindSpore"):
        assert title in titles, title


def test_the_version_lives_in_src_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "lstm_sentiment.core.version.__version__"}


def test_predict_version_prints_the_name_and_version():
    done = run_script("predict.py", "--version", timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, NAMED + "\n", "")
    sys.path.insert(0, str(ROOT))
    import predict
    out = io.StringIO()
    assert predict.main(["--backend", "onnxruntime", "--version"], out) == 0
    assert out.getvalue() == NAMED + "\n"


def test_the_page_shows_the_version():
    from src.core.config import load_config
    from src.inference.serve import model_summary
    config = load_config(["--run_dir", str(ROOT / "model")])
    line = model_summary(config, SimpleNamespace(name="lstm-best.ckpt", vocab=["<pad>"] * 5))
    assert NAMED in line and "**Model:** `lstm-best.ckpt`" in line


def test_the_model_card_names_the_version():
    sys.path.insert(0, str(ROOT / "scripts"))
    import ship_model
    from src.core.config import Config
    card = ship_model._card(Config(), {"test_acc": 0.9}, None, SimpleNamespace(vocab_rows=0),
                            False, ("default", 1))
    assert NAMED in card.splitlines()[:4]
