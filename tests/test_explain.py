"""Explanations (src/explain.py): each token's score toward the predicted class, by deleting it."""
import json

import numpy as np
import pytest


SENTIMENT_WORDS = {"wonderful", "great", "excellent", "loved", "best", "superb", "terrible",
                   "awful", "worst", "boring", "bad", "waste", "hated", "dull"}


@pytest.fixture(scope="module")
def learned_predictor(learned_run):
    from src.config import load_config
    from src.predictor import load_predictor
    run, args = learned_run
    return load_predictor(load_config(args + ["--checkpoint_path", str(run / "lstm-best.ckpt"),
                                              "--backend", "onnxruntime"]))


@pytest.mark.slow
def test_one_finite_score_per_token_read(learned_predictor):
    from src.explain import explain
    from src.text import tokenize
    texts = ["A wonderful film.", "Dull. " * 40 + "I walked out after an hour.", "ok"]
    for text, reason in zip(texts, explain(learned_predictor, texts)):
        assert reason.tokens == tokenize(text)[:learned_predictor.config.max_len]
        assert len(reason.scores) == len(reason.tokens)
        assert all(np.isfinite(reason.scores))


@pytest.mark.slow
def test_a_score_is_the_drop_of_the_predicted_probability_without_the_token(learned_predictor):
    from src.explain import explain
    text = "The acting was superb and the story moving."
    reason = explain(learned_predictor, [text])[0]
    full = learned_predictor.predict([text])[0]
    assert reason.label == full.label
    tokens = reason.tokens
    for i in (0, 3):
        without = " ".join(tokens[:i] + tokens[i + 1:])
        probability = learned_predictor.predict([without])[0].probabilities[full.label]
        assert reason.scores[i] == pytest.approx(full.probabilities[full.label] - probability,
                                                 abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "This was a wonderful film. I loved it and the acting was superb.",
    "The worst film I have seen. Boring, awful and a waste of time.",
])
def test_for_an_obvious_review_the_strongest_word_is_a_sentiment_word(text, learned_predictor):
    from src.explain import explain
    reason = explain(learned_predictor, [text])[0]
    assert reason.strongest(1)[0][0] in SENTIMENT_WORDS, reason.strongest(5)


@pytest.mark.slow
def test_a_long_review_is_explained_by_spans_within_the_budget(learned_predictor):
    from src.explain import explain, span_size
    text = "a great film . " * 200  # 800 tokens, cut to max_len
    length = len(learned_predictor.encode([text])[0])
    budget = 20 * length
    reason = explain(learned_predictor, [text], budget)[0]
    size = span_size(length, budget)
    assert size > 1 and (-(-length // size)) * length <= budget + length
    assert len(reason.scores) == length
    spans = [reason.scores[i:i + size] for i in range(0, length, size)]
    assert all(len(set(span)) == 1 for span in spans)


@pytest.mark.slow
def test_predict_explain_text_and_json(learned_run, learned_predictor, capsys):
    """predict.py --explain prints explain()'s scores: every token's in JSON, the strongest
    ones toward the label in the text line."""
    from predict import main as predict
    from src.explain import explain
    run, _ = learned_run
    review = "This was a wonderful film. I loved it."
    reason = explain(learned_predictor, [review])[0]
    outputs = []
    for output_format in ("text", "json"):  # the predictor's backend, for the same numbers
        assert predict(["--ckpt_path", str(run), "--backend", "onnxruntime", "--explain",
                        "true", "--output_format", output_format, review]) == 0
        outputs.append(capsys.readouterr().out.strip())
    label, probabilities, words, snippet = outputs[0].split("\t")
    assert label == reason.label and snippet == review
    shown = [(part.split()[0], float(part.split()[1])) for part in words.split(", ")]
    assert [token for token, _ in shown] == [token for token, _ in reason.strongest()]
    assert [score for _, score in shown] == pytest.approx(
        [score for _, score in reason.strongest()], abs=6e-4)  # printed with 3 decimals
    assert shown[0][0] in SENTIMENT_WORDS and shown[0][1] > 0.01, shown
    record = json.loads(outputs[1])
    assert record["label"] == reason.label
    assert [token for token, _ in record["explanation"]] == reason.tokens
    assert [score for _, score in record["explanation"]] == pytest.approx(reason.scores,
                                                                         abs=2e-5)
