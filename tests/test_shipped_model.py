"""The trained model in the box (model/) and scripts/ship_model.py, which puts a run there."""
import json

import numpy as np

from src.run_folder import SHIPPED
from conftest import ROOT, SAMPLE, run_script

OBVIOUS = {"An absolutely stunning and wonderful film, a masterpiece.": "positive",
           "Dull, boring and badly acted: a waste of two hours.": "negative"}


def _bench_row(tmp_path):
    results = tmp_path / "recipes.json"
    results.write_text(json.dumps({
        "quartile_word_bounds": [120, 170, 280],
        "rows": [{"recipe": "tiny", "seed": 1, "test_acc": 0.61,
                  "test_acc_by_length_quartile": [0.6, 0.62, 0.61, 0.6]}]}))
    return results


def test_ship_model_writes_a_small_float16_model_with_its_card(trained_run, tmp_path):
    import mindspore as ms
    out = tmp_path / "model"
    result = run_script("scripts/ship_model.py", trained_run, "--results", _bench_row(tmp_path),
                        "--recipe", "tiny", "--seed", "1", "--vocab_rows", "2000",
                        "--check", SAMPLE, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md", "config.yaml", "eval.json", "lstm-best.ckpt", "vocab.json"]
    params = ms.load_checkpoint(str(out / "lstm-best.ckpt"))
    assert params["embedding.embedding_table"].shape[0] == 2000
    weights = [value for name, value in params.items() if "." in name]  # not epoch, valid_acc
    assert len(weights) > 10 and all(w.asnumpy().dtype == np.float16 for w in weights)
    assert len(json.loads((out / "vocab.json").read_text())["tokens"]) == 2000
    config_text = (out / "config.yaml").read_text()
    assert str(tmp_path) not in config_text and str(ROOT) not in config_text
    check = json.loads((out / "eval.json").read_text())["shipped_check"]
    assert check["reviews"] == 500 and abs(check["shipped_accuracy"] - check["run_accuracy"]) < 0.03
    card = (out / "MODEL_CARD.md").read_text()
    assert "61.00 %" in card and "| over 280 | 60.00 % |" in card and "Rebuild it" in card


def test_the_box_holds_a_trained_model_under_10_mb_with_its_card():
    files = {p.name: p for p in SHIPPED.iterdir()}
    assert {"MODEL_CARD.md", "config.yaml", "eval.json", "lstm-best.ckpt", "vocab.json"} <= set(files)
    assert sum(p.stat().st_size for p in files.values()) < 10e6
    scores = json.loads(files["eval.json"].read_text())
    assert scores["reviews"] == 25000 and scores["accuracy"] > 0.9
    assert len(scores["accuracy_by_length_quartile"]) == 4
    check = scores["shipped_check"]
    assert check["run_accuracy"] - check["shipped_accuracy"] <= 0.001  # within 0.1 point
    assert f"{100 * scores['accuracy']:.2f} %" in files["MODEL_CARD.md"].read_text()


def test_predict_without_ckpt_path_uses_the_shipped_model():
    result = run_script("predict.py", *OBVIOUS, "--output_format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["label"] for a in answers] == list(OBVIOUS.values())
    assert all(max(a["probabilities"].values()) > 0.9 for a in answers)
    fast = run_script("predict.py", *OBVIOUS, "--output_format", "json", "--backend",
                      "onnxruntime")  # what make serve runs
    assert fast.returncode == 0, fast.stderr[-2000:]
    for answer, line in zip(answers, fast.stdout.splitlines()):
        for name, p in json.loads(line)["probabilities"].items():
            assert abs(p - answer["probabilities"][name]) < 1e-4


def test_the_page_shows_the_model_cards_key_figures():
    from src.config import load_config
    from src.predict_io import with_run_config
    from src.predictor import load_predictor
    from src.serve import model_summary
    config = load_config(with_run_config([]))
    summary = model_summary(config, load_predictor(config))
    scores = json.loads((SHIPPED / "eval.json").read_text())
    assert f"{100 * scores['accuracy']:.1f} % on 25000 reviews" in summary
    assert "by length quartile" in summary and "MODEL_CARD.md" in summary


def test_explanations_of_the_shipped_model_point_at_sentiment_words():
    result = run_script("predict.py", *OBVIOUS, "--explain", "true", "--output_format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    for line, label in zip(result.stdout.splitlines(), OBVIOUS.values()):
        answer = json.loads(line)
        assert answer["label"] == label
        strongest_token, _ = max(answer["explanation"], key=lambda item: item[1])
        assert strongest_token in {"stunning", "wonderful", "masterpiece", "absolutely",
                                   "dull", "boring", "badly", "waste"}


def test_compare_scores_a_run_and_the_shipped_model_on_the_same_reviews(trained_run):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "src.compare", str(trained_run), "model",
                             "--aclimdb_path", str(SAMPLE)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == f"accuracy on the 500 test reviews of {SAMPLE}:"
    shipped = float(lines[2].split(": ")[1].rstrip(" %"))
    assert lines[1].startswith(f"  {trained_run}: ") and lines[2].startswith("  model: ")
    assert shipped > 85.0  # the full-data model on reviews it never saw
