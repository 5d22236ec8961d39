"""The Gradio page: python app.py --ckpt_path RUN_DIR [--serve_port 7860] [--serve_host 127.0.0.1]"""
import sys

from src.config import run_main
from src.infer import with_run_config
from src.serve import serve

if __name__ == "__main__":
    run_main(serve, with_run_config(sys.argv[1:]))
