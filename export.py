"""Export a checkpoint for offline inference: MINDIR (the default), AIR (Ascend) or ONNX.

    python export.py --checkpoint_file RUN_DIR/lstm-best.ckpt --file_name lstm [--device_target Ascend]

The run's config.yaml (the checkpoint's folder, or --run_dir) is the base config, as for
eval.py; any --KEY VALUE applies on top. A MINDIR runs on the device it was exported for,
with its run's vocabulary; both are written into the file and checked by predict.py, app.py
and the 310 flow.
"""
import sys

from src.cloud.modelarts import modelarts_synced
from src.core.cli import run_main
from src.core.run_folder import run_config_first


@modelarts_synced
def main(config, log=print):
    from src.inference.exporter import export_model
    return export_model(config, log)


if __name__ == "__main__":
    run_main(main, run_config_first(sys.argv[1:]))
