"""export.py with a run folder alone exports its lstm-best.ckpt, as --help says."""
import subprocess
import sys

from conftest import ROOT, run_script
from src import load


def test_the_run_folder_alone_exports_its_best_checkpoint(trained_run, tmp_path):
    done = run_script("export.py", "--ckpt_path", trained_run, "--file_name", tmp_path / "lstm")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "lstm.mindir").stat().st_size > 10_000
    assert "exported" in done.stdout


def test_a_folder_without_a_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    done = run_script("export.py", "--ckpt_path", tmp_path / "run", "--file_name",
                      tmp_path / "lstm")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no checkpoint given and no" in done.stderr and "--ckpt_path RUN_DIR" in done.stderr
    assert not list(tmp_path.glob("lstm*"))


def _readme_onnx_example():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- onnx example -->", 1)[1]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_onnx_file_serves_raw_text_with_onnxruntime_alone(trained_run, tmp_path):
    """The README's example, run where MindSpore cannot be imported, on the ONNX file, the
    vocabulary and the tokenizer's rules export.py wrote: the predictor's probabilities."""
    done = run_script("export.py", "--ckpt_path", trained_run, "--file_format", "ONNX",
                      "--file_name", tmp_path / "lstm")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name for p in tmp_path.iterdir()} == {"lstm.onnx", "lstm.vocab.json",
                                                    "lstm.tokenizer.json"}
    code = "import sys\nsys.modules['mindspore'] = None\n" + _readme_onnx_example()
    served = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert served.returncode == 0, served.stderr[-2000:]
    predictor = load(trained_run)
    texts = ["A moving, beautifully acted film.", "Dull and far too long."]
    expected = [" ".join(f"p({name})={p:.4f}" for name, p in r.probabilities.items()) + " " + t
                for r, t in zip(predictor.predict(texts), texts)]
    assert served.stdout.splitlines() == expected
