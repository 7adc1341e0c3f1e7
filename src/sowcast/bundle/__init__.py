"""The bundle: the one thing that crosses from HPC to the edge (DESIGN.md). Torch-free.

One folder (or a ``.tar.gz`` of it, members ``<folder>/<file>``)::

    manifest.json      its own sha256 (first line), format, channels, grid, time step,
                       provenance, sha256 of every other file
    model.onnx         inputs [B, T_in, C, H, W], forcings [B, T_in+1, F, H, W],
                       static [B, S, H, W] (and, for a stochastic model, noise
                       [B, M, K] standard normal, manifest model.noise) -> next_state
                       [B, C, H, W]; physical units, normalisation and graph inside; B dynamic
    model.onnx.data    only for models over 2 GB (the weights beside the graph)
    static.nc          static fields on the grid (CF netCDF, lat/lon)
    statistics.nc      per-channel mean, std, diff_mean, diff_std, min, max over ``channel``
    climatology.nc     optional: model climatology (added by ``sowcast hindcast``)
    calibration.nc     optional: calibration fitted on hindcasts (added by ``sowcast calibrate``)
    scorecard.csv      optional: the held-out scorecard of this model and its summary
    scorecard.json     (added by ``sowcast verify verify.bundle=...``); the products and the
                       bulletin state the skill from them
    model_fp16.onnx    optional variants, kept only when their skill change was small
    model_int8.onnx

``sowcast export`` writes bundles (:mod:`sowcast.export`) from the typed :class:`Manifest`
that :func:`load_bundle` parses again when it opens and verifies one (nothing unlisted, every
byte checksummed, manifest included); :func:`add_file_to_bundle` adds a file later.
"""

from sowcast.bundle.manifest import FORMAT, MANIFEST_FILE, Manifest, channel_info, parse_manifest
from sowcast.bundle.reader import (
           Bundle,
           add_file_to_bundle,
           add_files_to_bundle,
           load_bundle,
           safe_extract,
           write_archive,
)

__all__ = ["FORMAT", "MANIFEST_FILE", "Bundle", "Manifest", "add_file_to_bundle", "add_files_to_bundle", "channel_info",
           "load_bundle", "parse_manifest", "safe_extract", "write_archive"]
