"""The typed config: YAML defaults, command-line overrides, validation."""
import dataclasses

import pytest
import yaml

from conftest import ROOT, run_script
from src.core.config import Config, load_config
from src.core.errors import UserError


def test_dataclass_defaults_equal_default_config_yaml():
    assert dataclasses.replace(load_config([]), config_path="") == Config(config_path="")


SHIPPED = sorted(path.name for path in ROOT.glob("*.yaml"))
# what the dataset configs read: they name no data of their own
DATA_FOR = {"config_phrases.yaml": ["--data_path", str(ROOT / "data" / "phrases_sample"),
                                    "--glove_path", str(ROOT / "data" / "glove_sample.50d.txt.gz")],
            "config_sst.yaml": ["--data_path", str(ROOT / "data" / "sst_sample"),
                                "--glove_path", str(ROOT / "data" / "glove_sample.50d.txt.gz")]}


def test_seven_yaml_files_ship():
    assert SHIPPED == ["config_ascend.yaml", "config_ascend_8p.yaml", "config_original.yaml",
                       "config_phrases.yaml", "config_small.yaml", "config_sst.yaml",
                       "default_config.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_loads_and_says_only_what_it_changes(name):
    config = load_config(["--config_path", str(ROOT / name), *DATA_FOR.get(name, [])])
    assert config.config_path.endswith(name)
    listed = yaml.safe_load((ROOT / name).read_text())
    defaults = dataclasses.asdict(Config())
    if name == "default_config.yaml":
        assert set(listed) == set(defaults) - {"config_path"}
    else:
        same = [key for key, value in listed.items() if defaults[key] == value and
                key not in ("data_path", "glove_path")]
        assert not same, f"{name} repeats defaults: {same}"


def test_default_config_yaml_is_generated_from_the_config_fields():
    from src.core.config import default_yaml
    assert (ROOT / "default_config.yaml").read_text() == default_yaml(), \
        "regenerate it: python -m src.core.config > default_config.yaml"


def test_command_line_overrides_yaml_with_types():
    config = load_config(["--num_epochs", "3", "--learning_rate=0.5", "--bidirectional", "false",
                          "--glove_path", "x.txt"])
    assert (config.num_epochs, config.learning_rate, config.bidirectional, config.glove_path) == \
        (3, 0.5, False, "x.txt")


@pytest.mark.parametrize("argv, message", [
    (["--num_epoch", "3"], "unknown config key 'num_epoch'"),
    (["--num_epochs", "three"], "'num_epochs' must be int"),
    (["--num_epochs", "2.5"], "'num_epochs' must be int"),
    (["--batch_size", "-64"], "'batch_size' must be positive"),
    (["--device_target", "TPU"], "'device_target' must be one of CPU, GPU, Ascend"),
    (["--dropout", "1.5"], "'dropout' must be in [0, 1)"),
    (["--freeze_embedding", "maybe"], "'freeze_embedding' must be bool"),
    (["--embedding", "glove"], "glove_path is empty"),
    (["--num_epochs"], "--num_epochs needs a value"),
    (["num_epochs", "3"], "unexpected argument 'num_epochs'"),
])
def test_bad_command_lines_are_user_errors(argv, message):
    with pytest.raises(UserError) as error:
        load_config(argv)
    assert message in str(error.value)


@pytest.mark.parametrize("content, message", [
    ("num_epochs: [1, 2\n", "is not valid YAML at line"),
    ("- a\n- b\n", "must hold 'key: value' lines"),
    ("epochs: 3\n", "unknown config key 'epochs'"),
])
def test_bad_yaml_files_are_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        load_config(["--config_path", str(path)])


def test_entry_script_prints_one_line_and_exits_2():
    result = run_script("train.py", "--batch_size", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: config key 'batch_size' must be positive, got 0; "
                                     "pass e.g. --batch_size 64")


@pytest.mark.parametrize("name", ["config_ascend.yaml", "config_ascend_8p.yaml"])
def test_ascend_configs_export_mindir_as_the_310_app_loads(name):
    # AIR is deprecated in MindSpore 2.x; ascend310_infer builds a kMindIR model
    assert load_config(["--config_path", str(ROOT / name)]).file_format == "MINDIR"


@pytest.mark.parametrize("old, new, value", [
    ("ckpt_path", "run_dir", "runs/a"), ("checkpoint_path", "checkpoint_file", "runs/a/x.ckpt"),
    ("pre_trained", "init_checkpoint", "runs/b/lstm-best.ckpt"),
    ("pretrained_encoder", "encoder_checkpoint", "pre/encoder.ckpt"),
    ("pretrain_start", "pretrain_init_encoder", "pre/encoder.ckpt"),
    ("pretrain_path", "pretrain_dir", "pre")])
def test_the_zoos_and_earlier_path_key_names_still_work(old, new, value, tmp_path):
    assert getattr(load_config([f"--{old}", value]), new) == value
    assert getattr(load_config([f"--{old}={value}"]), new) == value
    earlier = tmp_path / "earlier.yaml"
    earlier.write_text(f"{old}: {value}\n")
    assert getattr(load_config(["--config_path", str(earlier)]), new) == value


def test_a_run_folder_given_by_the_zoos_name_still_gives_the_runs_settings():
    from src.core.run_folder import SHIPPED, run_config_first
    flags = run_config_first(["--ckpt_path", str(SHIPPED)])
    assert flags[:2] == ["--config_path", str(SHIPPED / "config.yaml")]
