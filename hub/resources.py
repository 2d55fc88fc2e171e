"""Files the hub ships inside its packages (schemas, the local broker's pom, examples).

Read through :mod:`importlib.resources`, never through the repository checkout, so an
ordinary ``pip install`` (not editable) works from any directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hub.errors import ConfigurationError


def package_path(package: str, *parts: str) -> Path:
    """The file or directory ``parts`` inside ``package``, as a filesystem path.

    Raises :class:`~hub.errors.ConfigurationError` when the package is not installed as
    plain files (e.g. run from a zip archive), or the data is missing from the install.
    """
    found = files(package).joinpath(*parts)
    if not isinstance(found, Path):
        raise ConfigurationError(
            f"{package} is not installed as files ({found!r}); install mchub with pip "
            "into a virtual environment (pip install mchub), not as a zip archive"
        )
    if not found.exists():
        raise ConfigurationError(
            f"{'/'.join(parts)} is missing from the installed {package} package ({found}); "
            "reinstall mchub (pip install --force-reinstall mchub)"
        )
    return found
