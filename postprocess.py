"""310 flow, step 3: the accuracy of the inference results, into RESULT_DIR/acc.log.

    python postprocess.py --result_path DIR --result_dir RESULT_DIR
"""
from src.core.cli import run_main


def main(config, log=print):
    from src.inference.infer_310 import score_bin_results
    return score_bin_results(config, log)


if __name__ == "__main__":
    run_main(main)
