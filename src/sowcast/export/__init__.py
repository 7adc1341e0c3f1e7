"""Export: a training checkpoint to the edge bundle (ONNX model, parity, variants, manifest).

* :mod:`~sowcast.export.onnx_export`: rebuild the model from a checkpoint, export it with the
  dynamo exporter (opset 18, dynamic batch), check it (no Scatter ops);
* :mod:`~sowcast.export.parity`: onnxruntime against torch eager, random and real windows;
* :mod:`~sowcast.export.quantize`: fp16 and int8 variants;
* :mod:`~sowcast.export.bundle_writer`: the whole of ``sowcast export``
  (:func:`export_bundle`) and the torch-free writers of ``static.nc``, ``statistics.nc`` and
  ``manifest.json``;
* :mod:`~sowcast.export.options`: the ``export:`` config as the typed ``ExportOptions``
  (torch-free); :mod:`~sowcast.export.stage`: the command's ``run(options, run_dir)``.

The bundle format and its reader are in :mod:`sowcast.bundle` (torch-free, for the edge).
Importing this package does not import torch; exporting does.
"""

from sowcast.export.bundle_writer import ExportResult, export_bundle

__all__ = ["ExportResult", "export_bundle"]
