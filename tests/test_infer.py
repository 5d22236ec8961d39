"""Inference: the Predictor (batching, checkpoint vs MINDIR), the export record, the 310 .bin
flow end to end, and their bad inputs."""
import dataclasses
import json
import os
import subprocess
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from src.core.errors import UserError
from src.model.checkpoint import load_network
from src.inference.infer_310 import BIN_FOLDERS, score_bin_results, write_bin_files
from src.inference.mindir import read_mindir
from src.inference.predictor import Predictor, load_predictor
from src.data.text import Vocab, tokenize
from conftest import REVIEWS, ROOT, SAMPLE, run_script


def _network_probabilities(config, text):
    """The reference: the raw network on one unpadded review, softmaxed."""
    network = load_network(config.model, config.checkpoint_file)
    ids = Vocab.load(Path(config.run_dir) / "vocab.json").encode(tokenize(text), config.max_len,
                                                                 config.truncate)
    logits = network(ms.Tensor(ids[None]), ms.Tensor(np.int32([len(ids)]))).asnumpy()[0]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def test_predictions_match_the_network_on_each_review_alone(run_config, checkpoint_predictor):
    predictions = checkpoint_predictor.predict(REVIEWS)
    for text, prediction in zip(REVIEWS, predictions):
        expected = _network_probabilities(run_config, text)
        got = np.array([prediction.probabilities[name] for name in ("negative", "positive")])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert prediction.label == ("negative", "positive")[int(expected.argmax())]


def test_batching_and_order_do_not_change_results(checkpoint_predictor):
    alone = [checkpoint_predictor.predict([text])[0] for text in REVIEWS]
    together = checkpoint_predictor.predict(REVIEWS[::-1])[::-1]
    for one, other in zip(alone, together):
        for name in one.probabilities:
            assert abs(one.probabilities[name] - other.probabilities[name]) < 1e-5


def test_shapes_are_bucketed_so_graphs_are_reused(run_config):
    predictor = Predictor(dataclasses.replace(run_config, bucket_width=16, max_len=64,
                                              batch_size=32), None, None)
    assert predictor._shape(1, 5) == (1, 16)
    assert predictor._shape(3, 17) == (4, 32)
    assert predictor._shape(12, 64) == (16, 64)
    assert predictor._shape(30, 64) == (16, 64)     # never more than EVAL_BATCH rows


def test_mindir_predictor_agrees_with_the_checkpoint(run_config, exported_mindir,
                                                     checkpoint_predictor):
    from_mindir = load_predictor(dataclasses.replace(run_config,
                                                     mindir_path=str(exported_mindir)))
    assert from_mindir.fixed_shape == (run_config.batch_size, run_config.max_len)
    for one, other in zip(from_mindir.predict(REVIEWS), checkpoint_predictor.predict(REVIEWS)):
        assert one.label == other.label
        for name in one.probabilities:
            assert abs(one.probabilities[name] - other.probabilities[name]) < 1e-5


def test_exported_mindir_holds_no_folded_activation_constants(exported_mindir):
    from mindspore.train import mind_ir_pb2
    model = mind_ir_pb2.ModelProto()
    model.ParseFromString(Path(exported_mindir).read_bytes())
    weights = sum(len(p.raw_data) for p in model.graph.parameter)
    constants = sum(len(t.raw_data) for node in model.graph.node for a in node.attribute
                    for t in a.tensors)
    assert constants < 16_384, f"{constants} bytes of constants next to {weights} of weights"
    assert [name for name, _ in read_mindir(exported_mindir)[1]] == ["ids", "length"]


def test_not_a_mindir_is_one_clear_error(run_config, tmp_path):
    fake = tmp_path / "fake.mindir"
    fake.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="MINDIR"):
        load_predictor(dataclasses.replace(run_config, mindir_path=str(fake)))
    with pytest.raises(UserError, match="not found"):
        load_predictor(dataclasses.replace(run_config, mindir_path=str(tmp_path / "no.mindir")))


def test_bin_files_have_the_zoo_layout(run_config, tmp_path):
    config = dataclasses.replace(run_config, result_path=str(tmp_path / "bins"))
    folder = write_bin_files(config, log=lambda *_: None)
    ids = sorted((folder / BIN_FOLDERS["ids"]).glob("*.bin"))
    assert len(ids) == -(-500 // config.batch_size)
    assert ids[0].name == f"lstm_bs{config.batch_size}_00000.bin"
    assert ids[0].stat().st_size == config.batch_size * config.max_len * 4
    labels = np.concatenate([np.fromfile(folder / BIN_FOLDERS["label"] / p.name, np.int32)
                             for p in ids])
    assert (labels >= 0).sum() == 500 and set(labels[labels >= 0]) == {0, 1}
    assert (labels == -1).sum() == len(ids) * config.batch_size - 500
    assert not list(tmp_path.glob(".*building*"))


def test_postprocess_without_results_is_a_clear_error(run_config, tmp_path):
    config = dataclasses.replace(run_config, result_path=str(tmp_path / "bins"),
                                 result_dir=str(tmp_path / "none"))
    with pytest.raises(UserError, match="holds no 00_data"):
        score_bin_results(config, log=lambda *_: None)
    write_bin_files(config, log=lambda *_: None)
    with pytest.raises(UserError, match="no inference result"):
        score_bin_results(config, log=lambda *_: None)


def _run_infer_310(*args, env=None):
    return subprocess.run(["bash", str(ROOT / "scripts" / "run_infer_310.sh"), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_310_flow_on_cpu_matches_eval(run_config, trained_run, exported_mindir, tiny_eval,
                                      tmp_path):
    done = _run_infer_310(exported_mindir, SAMPLE, "y", "CPU", "--config_path",
                          trained_run / "config.yaml", env={"INFER_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    acc_log = tmp_path / "result_Files" / "acc.log"
    assert str(acc_log) in done.stdout
    outcome = json.loads((tmp_path / "result_Files" / "acc.json").read_text())
    assert outcome["reviews"] == tiny_eval["reviews"] == 500
    assert outcome["accuracy"] == pytest.approx(tiny_eval["accuracy"], abs=1e-9)
    assert acc_log.read_text().startswith(f"accuracy: {tiny_eval['accuracy']:.6f}")
    # each batch's logits are the checkpoint network's on the same ids
    network = load_network(run_config.model, run_config.checkpoint_file)
    data = tmp_path / "preprocess_Result"
    first = sorted((data / BIN_FOLDERS["ids"]).glob("*.bin"))[0]
    ids = np.fromfile(first, np.int32).reshape(run_config.batch_size, run_config.max_len)
    length = np.fromfile(data / BIN_FOLDERS["length"] / first.name, np.int32)
    expected = network(ms.Tensor(ids), ms.Tensor(length)).asnumpy()
    got = np.fromfile(tmp_path / "result_Files" / f"{first.stem}_0.bin", np.float32)
    np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["MINDIR", "DATA", "maybe", "CPU"], "NEED_PREPROCESS must be y or n"),
    (["MINDIR", "DATA", "y", "TPU"], "DEVICE_TARGET must be CPU, GPU or Ascend"),
    (["MINDIR", "DATA", "y", "CPU", "x1"], "DEVICE_ID must be a number"),
    (["missing.mindir", "DATA", "y", "CPU"], "MINDIR path missing.mindir does not exist"),
    (["MINDIR", "DATA", "y"], "usage:"),
    (["MINDIR", "DATA", "n", "CPU"], "run with NEED_PREPROCESS y"),
    (["MINDIR", "DATA", "n", "Ascend"], "exported for CPU and cannot run on Ascend"),
])
def test_run_infer_310_bad_arguments(args, message, exported_mindir, trained_run, tmp_path):
    words = [{"MINDIR": exported_mindir, "DATA": SAMPLE}.get(word, word) for word in args]
    settings = ["--config_path", trained_run / "config.yaml"] if len(words) >= 4 else []
    done = _run_infer_310(*words, *settings, env={"INFER_DIR": str(tmp_path / "out")})
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def test_ascend_path_needs_mindspore_lite(exported_mindir, trained_run, tmp_path):
    ascend = _recorded_as(exported_mindir, tmp_path / "ascend.mindir", device_target="Ascend")
    (tmp_path / "preprocess_Result" / "00_data").mkdir(parents=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("MS_LITE_HOME", "LITE_HOME")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "run_infer_310.sh"), str(ascend),
                           str(SAMPLE), "n", "Ascend", "0", "--config_path",
                           str(trained_run / "config.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**env, "INFER_DIR": str(tmp_path)})
    assert done.returncode == 2 and "MS_LITE_HOME" in done.stderr, done.stderr


@pytest.mark.parametrize("pooling", ["mean_max", "first_last"])
def test_onnx_export_runs_in_onnxruntime(pooling, run_config, tmp_path):
    import onnxruntime
    from src.inference.exporter import export_model
    config = dataclasses.replace(run_config, file_format="ONNX", pooling=pooling,
                                 file_name=str(tmp_path / "tiny"))
    path = export_model(config, log=lambda *_: None)
    assert path.suffix == ".onnx" and not list(tmp_path.glob(".*tmp*"))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    length = rng.integers(1, config.max_len + 1, config.batch_size).astype(np.int32)
    ids = np.zeros((config.batch_size, config.max_len), np.int32)
    for row, size in enumerate(length):
        ids[row, :size] = rng.integers(2, 500, size)
    got = session.run(None, {"ids": ids, "length": length})[0]
    network = load_network(config.model, config.checkpoint_file)
    expected = network(ms.Tensor(ids), ms.Tensor(length)).asnumpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)


# --- the export record: a MINDIR runs only with its run's vocabulary, on its device ---------
def _recorded_as(source, target, **changes):
    """A copy of the MINDIR at source whose export record says otherwise, as if it had been
    exported on another device or from another run (None drops the record)."""
    from mindspore.train import mind_ir_pb2
    from src.inference.mindir import RECORD_KEY
    model = mind_ir_pb2.ModelProto()
    model.ParseFromString(Path(source).read_bytes())
    if changes.pop("record", True) is None:
        del model.user_info[RECORD_KEY]
    else:
        record = json.loads(model.user_info[RECORD_KEY])
        record.update(changes)
        model.user_info[RECORD_KEY] = json.dumps(record)
    target.write_bytes(model.SerializeToString())
    return target


def _other_run(trained_run, folder):
    """A run folder like trained_run's but with another vocabulary (min_freq 5)."""
    from src.data.readers.aclimdb import read_aclimdb
    folder.mkdir()
    (folder / "config.yaml").write_bytes((trained_run / "config.yaml").read_bytes())
    train = read_aclimdb(SAMPLE)["train"]
    Vocab.build([tokenize(r.text) for r in train], 5, 50000).save(folder / "vocab.json")
    return folder


def test_export_records_the_device_the_vocabulary_and_the_shapes(exported_mindir, run_config,
                                                                 trained_run):
    from src.inference.mindir import read_record
    record = read_record(exported_mindir)
    assert record["device_target"] == "CPU"
    assert record["vocab_digest"] == Vocab.load(trained_run / "vocab.json").digest()
    assert (record["batch_size"], record["max_len"], record["num_classes"]) == \
        (run_config.batch_size, run_config.max_len, 2)
    assert record["network"]["num_hiddens"] == run_config.num_hiddens


@pytest.mark.parametrize("script", ["predict.py", "app.py", "bench/bench_predict.py"])
def test_a_mindir_of_another_run_is_refused_in_one_line(script, exported_mindir, trained_run,
                                                        tmp_path):
    other = _other_run(trained_run, tmp_path / "other")
    if script == "bench/bench_predict.py":
        args = ["--run_dir", other, "--mindir", exported_mindir]
    else:
        args = ["--run_dir", other, "--mindir_path", exported_mindir, "--serve_port", "1"]
        args += ["An absolutely stunning film"] if script == "predict.py" else []
    done = run_script(script, *args, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "was exported with another vocabulary" in lines[0] and "export.py" in lines[0]
    assert done.stdout.strip() == "" or script != "predict.py"


@pytest.mark.parametrize("changes, words", [
    ({"device_target": "GPU"}, ["exported for GPU and cannot run on CPU",
                                "export.py --device_target CPU"]),
    ({"record": None}, ["carries no export record", "export it again"]),
    ({"num_classes": 5}, ["num_classes 5", "config.yaml"]),
])
def test_a_mindir_that_does_not_fit_is_refused_by_predict(changes, words, exported_mindir,
                                                          trained_run, tmp_path):
    odd = _recorded_as(exported_mindir, tmp_path / "odd.mindir", **changes)
    done = run_script("predict.py", "--run_dir", trained_run, "--mindir_path", odd, "good")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_310_flow_refuses_a_mindir_exported_for_another_device(exported_mindir, trained_run,
                                                               tmp_path):
    done = _run_infer_310(exported_mindir, SAMPLE, "y", "Ascend", "--config_path",
                          trained_run / "config.yaml", env={"INFER_DIR": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "exported for CPU and cannot run on Ascend" in done.stderr
    assert "--device_target Ascend" in done.stderr
    assert not (tmp_path / "preprocess_Result").exists(), "preprocessed before checking"


def _fake_lite(folder):
    """The folders of an unpacked mindspore-lite-VERSION-linux-x64 package (no files)."""
    for sub in ("runtime/lib", "runtime/include", "runtime/third_party/dnnl",
                "tools/converter/lib"):
        (folder / sub).mkdir(parents=True)
    return folder


def test_310_flow_on_ascend_sets_mindspore_lites_library_path(exported_mindir, trained_run,
                                                              tmp_path):
    ascend = _recorded_as(exported_mindir, tmp_path / "ascend.mindir", device_target="Ascend")
    lite = _fake_lite(tmp_path / "lite")
    done = _run_infer_310(ascend, SAMPLE, "y", "Ascend", "3", "--config_path",
                          trained_run / "config.yaml",
                          env={"INFER_DIR": str(tmp_path / "out"), "MS_LITE_HOME": str(lite),
                               "DRY_RUN": "1", "LD_LIBRARY_PATH": "/opt/other"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"env: LD_LIBRARY_PATH={lite}/runtime/lib:{lite}/runtime/third_party/dnnl:" \
           f"{lite}/tools/converter/lib:/opt/other" in lines
    out = tmp_path / "out"
    assert f"run: {ROOT}/ascend310_infer/out/main --mindir_path {ascend} --input0_path " \
           f"{out}/preprocess_Result/00_data --input1_path {out}/preprocess_Result/01_length " \
           f"--result_path {out}/result_Files --device_id 3" in lines
    steps = [line.split()[2] for line in lines if line.startswith("run: ") and "python" in line]
    assert steps == ["-m", "preprocess.py", "postprocess.py"], lines  # check, 1, 3
    assert not (out / "preprocess_Result").exists()


def test_310_app_links_mindspore_lites_runtime_and_converter_libraries(tmp_path):
    lite = _fake_lite(tmp_path / "lite")
    build = tmp_path / "build"
    done = subprocess.run(["cmake", "-S", str(ROOT / "ascend310_infer"), "-B", str(build)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MS_LITE_HOME": str(lite)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    link = (build / "CMakeFiles" / "main.dir" / "link.txt").read_text()
    assert f"-L{lite}/runtime/lib" in link and f"-L{lite}/tools/converter/lib" in link, link
    assert "-lmindspore-lite" in link
