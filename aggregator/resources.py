"""Find the templates, static files and migrations, installed or not.

In a wheel they live inside the package (see pyproject.toml); in a source
checkout they sit at the top of the repository.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    packaged = _PACKAGE / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
