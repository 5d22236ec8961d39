"""export.py with a run folder alone exports its lstm-best.ckpt, as --help says; any file name
is exported (MindSpore's own check takes only ASCII letters, digits and -_.@:/)."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_script
from src import load


def test_the_run_folder_alone_exports_its_best_checkpoint(trained_run, tmp_path, capfd):
    done = run_script("export.py", "--run_dir", trained_run, "--file_name", tmp_path / "lstm",
                      capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "lstm.mindir").stat().st_size > 10_000
    assert "exported" in done.stdout


def test_a_folder_without_a_checkpoint_is_one_clear_error(tmp_path, capfd):
    (tmp_path / "run").mkdir()
    done = run_script("export.py", "--run_dir", tmp_path / "run", "--file_name",
                      tmp_path / "lstm", capfd=capfd)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no checkpoint given and no" in done.stderr and "--run_dir RUN_DIR" in done.stderr
    assert not list(tmp_path.glob("lstm*"))


def _readme_onnx_example():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- onnx example -->", 1)[1]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_onnx_file_serves_raw_text_with_onnxruntime_alone(trained_run, tmp_path, capfd):
    """The README's example, run where MindSpore cannot be imported, on the ONNX file, the
    vocabulary and the tokenizer's rules export.py wrote: the predictor's probabilities."""
    done = run_script("export.py", "--run_dir", trained_run, "--file_format", "ONNX",
                      "--file_name", tmp_path / "lstm", capfd=capfd)
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


# --- a --file_name MindSpore's own file-name check refuses ---------------------------------
# ms.export takes only [0-9a-zA-Z@_-.:/\] in its file name: the file is exported under a
# plain temporary name, then renamed. Also a folder so named (the temporary name is then in
# the system's temporary folder), and the ONNX file, whose vocabulary and tokenizer files
# follow its name.
NAMES = ["my model", "modèle", "dossier à exporter/my model"]


def _logits_of(network, config):
    import mindspore as ms
    rng = np.random.default_rng(0)
    length = rng.integers(1, config.max_len + 1, config.batch_size).astype(np.int32)
    ids = np.zeros((config.batch_size, config.max_len), np.int32)
    for row, size in enumerate(length):
        ids[row, :size] = rng.integers(2, 500, size)
    return ids, length, network(ms.Tensor(ids), ms.Tensor(length)).asnumpy()


@pytest.mark.parametrize("name", NAMES)
def test_a_mindir_named_with_a_space_or_an_accent_is_exported_and_loads(name, run_config,
                                                                        tmp_path):
    import mindspore as ms
    from mindspore import nn
    from src.inference.exporter import export_model
    from src.inference.mindir import read_record
    from src.model.checkpoint import load_network
    config = dataclasses.replace(run_config, file_name=str(tmp_path / name))
    path = export_model(config, log=lambda *_: None)
    assert path == tmp_path / f"{name}.mindir" and path.stat().st_size > 10_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert read_record(path)["checkpoint"] == "lstm-best.ckpt"
    ids, length, expected = _logits_of(load_network(config.model, config.checkpoint_file), config)
    graph = nn.GraphCell(ms.load(str(path)))
    np.testing.assert_allclose(graph(ms.Tensor(ids), ms.Tensor(length)).asnumpy(), expected,
                               atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_an_onnx_file_named_with_a_space_or_an_accent_is_exported_and_loads(name, run_config,
                                                                           tmp_path):
    import onnxruntime
    from src.inference.exporter import export_model
    from src.model.checkpoint import load_network
    config = dataclasses.replace(run_config, file_format="ONNX", file_name=str(tmp_path / name))
    path = export_model(config, log=lambda *_: None)
    stem = path.name[:-len(".onnx")]
    assert path == tmp_path / f"{name}.onnx" and stem == name.rsplit("/", 1)[-1]
    assert {p.name for p in path.parent.iterdir()} == {
        f"{stem}.onnx", f"{stem}.vocab.json", f"{stem}.tokenizer.json"}
    vocabulary = json.loads(path.with_name(f"{stem}.vocab.json").read_text(encoding="utf-8"))
    assert vocabulary["tokens"][:2] == ["<pad>", "<unk>"]
    ids, length, expected = _logits_of(load_network(config.model, config.checkpoint_file), config)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"ids": ids, "length": length})[0], expected,
                               atol=1e-4)


def test_export_py_takes_a_file_name_with_a_space(trained_run, tmp_path, capfd):
    """The issue's command: exit 0 and the file, not a traceback from MindSpore's check."""
    done = run_script("export.py", "--run_dir", trained_run, "--file_name",
                      tmp_path / "my model", capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "my model.mindir").stat().st_size > 10_000
    assert f"exported {tmp_path / 'my model.mindir'}" in done.stdout


def test_no_folder_mindspore_can_export_through_is_one_clear_error(run_config, tmp_path,
                                                                   monkeypatch):
    import tempfile
    from src.core.errors import UserError
    from src.inference.exporter import export_model
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp à"))
    config = dataclasses.replace(run_config, file_name=str(tmp_path / "à" / "lstm"))
    with pytest.raises(UserError, match="set TMPDIR to such a folder") as raised:
        export_model(config, log=lambda *_: None)
    assert "\n" not in str(raised.value)
    assert not list((tmp_path / "à").iterdir())
