"""Classify reviews: python predict.py --ckpt_path RUN_DIR "What a film!" [--output_format json]"""
import sys

from src.infer import predict_command

if __name__ == "__main__":
    sys.exit(predict_command(sys.argv[1:]))
