"""Progress bars on every long step, on a terminal only: a person sees them, logs and CI don't.

Each case runs an entry script twice: under a pseudo-terminal (a bar: tqdm's rate and its
carriage returns), and with its output piped, as a log or CI has it (no bar)."""
import pytest

from conftest import REVIEWS, SAMPLE, run_on_terminal, run_script, tiny_args

pytestmark = pytest.mark.slow


def _reviews_file(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(REVIEWS * 10) + "\n")
    return path


CASES = {
    "eval.py": lambda run, tmp: [*run["args"], "--checkpoint_file", run["ckpt"]],
    "predict.py": lambda run, tmp: ["--run_dir", run["dir"], "--batch_size", "8",
                                    "--input_file", _reviews_file(tmp)],
    "preprocess.py": lambda run, tmp: [*run["args"], "--result_path", tmp / "bins"],
    "pretrain.py": lambda run, tmp: [*run["args"], "--unlabelled_path",
                                     SAMPLE / "train" / "unsup", "--pretrain_dir", tmp / "pt",
                                     "--pretrain_window", "20", "--pretrain_batch_size", "16",
                                     "--pretrain_epochs", "0.02"],
}
UNITS = {"eval.py": "batch/s", "predict.py": "batch/s", "preprocess.py": "batch/s",
         "pretrain.py": "step/s"}


@pytest.mark.parametrize("script", sorted(CASES))
def test_a_bar_on_a_terminal_and_none_in_a_log(script, trained_run, session_dir, tmp_path,
                                               capfd):
    run = {"args": tiny_args(session_dir), "dir": trained_run,
           "ckpt": trained_run / "lstm-best.ckpt"}
    args = CASES[script](run, tmp_path / "terminal")
    code, screen = run_on_terminal(script, *args)
    assert code == 0, screen[-2000:]
    assert UNITS[script] in screen and "\r" in screen, screen[-2000:]
    piped = run_script(script, *CASES[script](run, tmp_path / "piped"), capfd=capfd)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert UNITS[script] not in piped.stdout + piped.stderr
    assert "\r" not in piped.stdout + piped.stderr
