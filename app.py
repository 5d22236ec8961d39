"""The Gradio page: type a review, see the label, its probabilities and the words that decided.

    python app.py --run_dir RUN_DIR [--backend onnxruntime] [--serve_port 7860] [--serve_host 127.0.0.1]
        [--explain_method decomposition|occlusion]
"""
import sys

from src.core.cli import run_main
from src.inference.predict_io import with_run_config


def main(config):
    from src.inference.serve import serve
    return serve(config)


if __name__ == "__main__":
    run_main(main, with_run_config(sys.argv[1:]))
