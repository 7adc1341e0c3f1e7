"""The scorecard into the bundle (``verify.bundle``): every box that runs the bundle then states
the model's held-out skill, with no file for its operator to copy and name.

``sowcast verify`` adds its ``scores.csv`` and ``summary.json`` to the bundle folder as
``scorecard.csv`` (role ``scorecard``) and ``scorecard.json`` (role ``scorecard_summary``), in
one rewrite of the manifest (:func:`sowcast.bundle.add_files_to_bundle`); ``sowcast products``
copies them into its folder and ``sowcast bulletin``, the dashboard and ``/api/skill`` read them
there. Refused, before anything is scored or written, when

* the bundle is an archive (add to the folder, then archive it),
* the reforecasts were not made by this bundle's model (``hindcast.json``'s ``model_sha256`` is
  the sha256 of none of its model files: a scorecard of another model would be a false claim), or
* the years scored are not held out (:mod:`sowcast.verify.held_out`): the model trained on them,
  its checkpoint was chosen on them, the calibration was fitted on them, or the reforecasts do
  not record the model, so that nobody can tell. Scores of such years are a fit, not skill.
"""

from __future__ import annotations

import json
from pathlib import Path

from sowcast.errors import SowcastError

KEY = "verify.bundle"


def check_bundle(bundle: Path, hindcast: Path, held_out: bool | None) -> None:
    """A one-line error unless the scorecard of ``hindcast`` may be added to ``bundle`` (module doc)."""
    from sowcast.bundle.reader import is_archive, load_bundle
    from sowcast.forecast.hindcast import OPTIONS_FILE

    if is_archive(bundle) or not bundle.is_dir():
        raise SowcastError(f"{KEY}: {bundle} is not a bundle folder (add the scorecard to the folder, then archive it)")
    models = load_bundle(bundle).model_digests
    try:
        recorded = json.loads((hindcast / OPTIONS_FILE).read_text()).get("model_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded not in models:
        raise SowcastError(f"{KEY}: the reforecasts {hindcast} were not made by the model of {bundle} "
                           f"({OPTIONS_FILE} model_sha256 {str(recorded)[:12]}; the bundle's models "
                           f"{', '.join(sorted(m[:12] for m in models))}); score reforecasts of this bundle")
    if held_out is not True:
        why = "are not held out" if held_out is False else "do not say which years the model trained on"
        raise SowcastError(f"{KEY}: the reforecasts {hindcast} {why}: their scores are not skill and are not "
                           f"added to a bundle (see the warnings above)")


def add_to_bundle(bundle: Path, scorecard: Path) -> str:
    """Add ``scorecard``'s scores.csv and summary.json to ``bundle``; the line that says so."""
    from sowcast.bundle.reader import added_to_bundle_line
    from sowcast.verify.summary import SUMMARY_FILE

    return added_to_bundle_line(bundle, [(scorecard / "scores.csv", "scorecard", None),
                                         (scorecard / SUMMARY_FILE, "scorecard_summary", None)])
