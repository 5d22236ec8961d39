"""Runs on ModelArts: copy-in and copy-out of the data and the run folder, through object
stores (OBS, S3, a local folder)."""
