"""The project's version, in one place: src/__init__.py, pyproject.toml, predict.py --version,
the page's model line and the model card read it."""
__all__ = ["__version__"]

__version__ = "1.1.0"
