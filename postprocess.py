"""310 flow, step 3: accuracy of the inference results into acc.log: python postprocess.py"""
from src.config import run_main
from src.infer import score_bin_results

if __name__ == "__main__":
    run_main(score_bin_results)
