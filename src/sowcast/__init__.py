"""sowcast: sub-seasonal forecasts for planting decisions, from HPC training to an offline edge box."""


def _version() -> str:
    """The installed distribution's version (PEP 566 metadata, written from pyproject.toml at
    install); in a source tree never installed, ``project.version`` of the pyproject.toml
    beside ``src/``; else ``0+unknown`` (a PEP 440 local version that says so)."""
    from importlib import metadata

    try:
        return metadata.version("sowcast")
    except metadata.PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return "0+unknown"
    return str(project["version"]) if project.get("name") == "sowcast" and "version" in project else "0+unknown"


__version__ = _version()
