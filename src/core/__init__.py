"""What every stage stands on: the one error type, atomic files, progress bars, the config
(its keys, YAML and `--key value` words), the device, data-parallel ranks, the run folder's
file names, and the entry scripts' process (cli)."""
