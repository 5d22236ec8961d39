"""310 flow, step 1: the test set as .bin batches: python preprocess.py --result_path DIR [...]"""
from src.config import run_main
from src.infer import write_bin_files

if __name__ == "__main__":
    run_main(write_bin_files)
