"""The process around every entry script: config from the command line, one-line errors.

    run_main(job)   # job(config) -> exit code or result

-h or --help, anywhere a --KEY could stand, prints the keys the script reads, by group. A
UserError, or a disk or permission error, becomes one `error:` line on stderr and exit code 2;
Ctrl-C or SIGTERM exit code 130. The job's own modules are imported by the job itself, after
the config is checked, so a bad config fails in a fraction of a second. Under msrun, the extra
process msrun starts as its scheduler only serves the cluster. Entry scripts that run on
ModelArts wrap their main in `src.cloud.modelarts.modelarts_synced` (a copy-in before, a
copy-out after).
"""
import os
import signal
import sys
from pathlib import Path

from .config import format_help, load_config
from .errors import USER_OS_ERRORS, UserError

__all__ = ["run_main", "fail", "asks_for", "print_help"]


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(job, config):
    if os.environ.get("MS_ROLE") == "MS_WORKER":
        print(f"worker pid {os.getpid()}", flush=True)  # the launcher's failure report reads it
    if os.environ.get("MS_ROLE") == "MS_SCHED":
        # msrun runs the entry script once more as its scheduler (with RANK_ID=0): that
        # process must only serve the cluster, never act as rank 0 (ModelArts copy-in, ...)
        from .distribute import serve_as_scheduler
        return serve_as_scheduler()
    if not config.run_distribute:
        # MindSpore's runtime answers Ctrl-C by sending itself SIGTERM; both end up as
        # KeyboardInterrupt between two steps, so the message is clear. Workers of msrun
        # keep the default: a worker stuck in a collective must still die on SIGTERM.
        signal.signal(signal.SIGTERM, _interrupt)
    if config.enable_modelarts and not getattr(job, "modelarts_synced", False):
        raise UserError("--enable_modelarts: this script does not run on ModelArts; train.py, "
                        "eval.py, export.py and pretrain.py do")
    return job(config)


def asks_for(argv, *flags):
    """Whether one of flags (e.g. -h, --help) stands in argv where a --KEY could: not as the
    value of a --KEY (as config_text.parse_command_line reads them), not after a bare --."""
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            return False
        if word in flags:
            return True
        if word.startswith("--") and "=" not in word and words and not words[0].startswith("--"):
            words.pop(0)  # its value
    return False


def print_help(text):
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `--help | head`: the reader has gone
        sys.stdout = open(os.devnull, "w")


def run_main(job, argv=None):
    """Run job(config) with the Config of argv (default sys.argv[1:]) as an entry script does.

    Exit codes: 2 for a UserError or a disk/permission error (one `error:` line on stderr),
    130 for Ctrl-C or SIGTERM.
    """
    argv = sys.argv[1:] if argv is None else argv
    if asks_for(argv, "-h", "--help"):  # app.py's come after the run's config.yaml
        print_help(format_help(Path(sys.argv[0]).name))
        return 0
    # MindSpore's own warnings (deprecations, graph compiler notes) are noise for users;
    # GLOG_v=2 shows them again.
    os.environ.setdefault("GLOG_v", "3")
    try:
        return _run(job, load_config(argv))
    except UserError as err:
        fail(err)
    except KeyboardInterrupt:
        fail("interrupted (Ctrl-C or SIGTERM); finished files are kept, half-written ones "
             "were never renamed into place; rerun (train.py: add --resume True) to continue",
             130)
    except OSError as err:
        if err.errno not in USER_OS_ERRORS:
            raise
        fail(f"{err.strerror}: {err.filename or 'a file'}; free disk space or pass a "
             f"writable folder (--run_dir, --preprocess_path, --file_name)")
