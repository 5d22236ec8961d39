"""310 flow, step 1: the test set as fixed-shape .bin batches.

    python preprocess.py --config_path RUN_DIR/config.yaml --result_path DIR
"""
from src.core.cli import run_main


def main(config, log=print):
    from src.inference.infer_310 import write_bin_files
    return write_bin_files(config, log)


if __name__ == "__main__":
    run_main(main)
