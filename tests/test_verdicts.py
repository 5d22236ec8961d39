"""The verdict beside the label: positive, negative, neutral (p(positive) inside a configurable
band) or "cannot tell" with its reason, when the model cannot read the text."""
import json

import pytest

from conftest import ROOT, run_script
from src.data.text import Vocab, tokenize
from src.inference.predictor import unreadable, verdict_of

SHIPPED_VOCAB = Vocab.load(ROOT / "model" / "vocab.json")


def _reason(text, familiar=10000, share=0.5):
    return unreadable(SHIPPED_VOCAB.encode(tokenize(text), 3000), SHIPPED_VOCAB, familiar, share)


def test_the_band_splits_p_positive_three_ways():
    band = (1 / 3, 2 / 3)
    assert [verdict_of(p, band) for p in (0.1, 1 / 3, 0.5, 2 / 3, 0.9)] == \
        ["negative", "neutral", "neutral", "neutral", "positive"]
    assert [verdict_of(p, (0.5, 0.5)) for p in (0.49, 0.51)] == ["negative", "positive"]


@pytest.mark.parametrize("text", ["Das war der schlechteste Film, den ich je gesehen habe.",
                                  "Este es el peor restaurante de la ciudad.",
                                  "xqzv blorf", "!!! ???"])
def test_text_the_model_cannot_read_gets_a_reason(text):
    assert _reason(text), text


@pytest.mark.parametrize("text", ["Not bad at all.", "Terrible acting.", "Superb.",
                                  "The pho at Nguyen Hue was superb.",
                                  "Released in 2019, stars Tom Hanks."])
def test_english_with_a_few_names_is_read(text):
    assert _reason(text) == "", text


def test_the_reason_counts_the_rare_words():
    assert _reason("xqzv blorf") == "2 of 2 words unknown or rare to the model"
    assert _reason("!!! ???") == "no words"
    assert _reason("Das war der schlechteste Film, den ich je gesehen habe.",
                   familiar=50000) == ""        # every word within the vocabulary's ranks


def test_predict_reports_the_verdict_and_its_reason_in_text_and_json(capfd):
    done = run_script("predict.py", "--backend", "onnxruntime", "--output_format", "json",
                      "xqzv blorf", "A wonderful, moving film.", capfd=capfd)
    assert done.returncode == 0, done.stderr
    gibberish, praise = [json.loads(line) for line in done.stdout.splitlines()]
    assert gibberish["verdict"] == "cannot tell" and "2 of 2 words" in gibberish["reason"]
    assert gibberish["label"] in ("positive", "negative")
    assert praise["verdict"] == "positive" == praise["label"] and "reason" not in praise
    done = run_script("predict.py", "--backend", "onnxruntime", "--neutral_low", "0.0",
                      "--neutral_high", "0.999999", "xqzv blorf", "A wonderful, moving film.",
                      capfd=capfd)
    gibberish, praise = done.stdout.splitlines()
    assert gibberish.startswith("cannot tell (2 of 2 words unknown or rare to the model)\t")
    assert praise.startswith("neutral\tp(negative)=")


def test_a_band_upside_down_is_refused(capfd):
    done = run_script("predict.py", "--neutral_low", "0.7", "--neutral_high", "0.3", "good",
                      capfd=capfd)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "neutral_low to neutral_high" in done.stderr
