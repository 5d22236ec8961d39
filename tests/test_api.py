"""The Python classifier: `load()` of the shipped model or a run, predict() and explain(),
the command line's refusals as UserError, and an import that works from any folder."""
import subprocess
import sys

import pytest

from conftest import ROOT, run_script
from src import UserError, __version__, load


@pytest.fixture(scope="module")
def shipped():
    return load()


def test_predict_takes_a_text_or_a_list_and_keeps_the_order(shipped):
    one = shipped.predict("A wonderful, moving film.")
    assert one.label == one.verdict == "positive"
    many = shipped.predict(["Dull and far too long.", "A wonderful, moving film.", "xqzv blorf"])
    assert [r.verdict for r in many] == ["negative", "positive", "cannot tell"]
    assert many[1] == one and abs(sum(one.probabilities.values()) - 1) < 1e-5
    assert "2 of 2 words" in many[2].reason


def test_explain_scores_every_token_toward_the_label(shipped):
    result = shipped.explain("A wonderful, moving film.")
    tokens = [token for token, _ in result.explanation]
    assert tokens == ["a", "wonderful", ",", "moving", "film", "."]
    assert max(result.explanation, key=lambda pair: pair[1])[0] == "wonderful"
    assert result.as_dict()["explanation"][1][0] == "wonderful"
    assert result.probabilities == shipped.predict("A wonderful, moving film.").probabilities


def test_the_command_lines_refusals_are_raised_with_the_same_message(shipped):
    with pytest.raises(UserError) as refused:
        shipped.predict(["fine", "   "])
    done = run_script("predict.py", "--", "fine", "   ")
    assert done.returncode == 2 and done.stderr.strip() == f"error: {refused.value}"
    with pytest.raises(UserError, match="review argument 1 is a int, not text"):
        shipped.predict([3])
    with pytest.raises(UserError, match="neutral_low"):
        load(neutral_low=0.8, neutral_high=0.2)


def test_settings_reach_the_classifier():
    everything_neutral = load(neutral_low=0.0, neutral_high=0.99999)
    assert everything_neutral.predict("A wonderful, moving film.").verdict == "neutral"


def test_the_package_imports_from_any_folder_under_its_own_name(tmp_path):
    (tmp_path / "src").mkdir()                  # another project's own `src` package
    (tmp_path / "src" / "__init__.py").write_text("NAME = 'theirs'\n")
    code = ("import lstm_sentiment as ls, src; clf = ls.load(); "
            "print(ls.__version__, clf.predict('A wonderful, moving film.').verdict, src.NAME)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [__version__, "positive", "theirs"]
