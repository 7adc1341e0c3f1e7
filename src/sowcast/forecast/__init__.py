"""The edge forecast engine (``sowcast forecast``): bundle + analysis -> ensemble forecast.

numpy, xarray, zarr and onnxruntime only: this package never imports torch
(tests/forecast/test_no_torch.py). One concept per module:

* :mod:`~sowcast.forecast.initial_conditions`: the analysed states at ``init_time``, checked
  against the bundle (canonical store, or a netCDF/GRIB file normalised like the ingest);
* :mod:`~sowcast.forecast.ensemble`: control + smooth Gaussian perturbations, lagged starts;
* :mod:`~sowcast.forecast.model_noise`: a stochastic model's noise, drawn per start, member
  and step from a seed (no state: resume and batching do not change it);
* :mod:`~sowcast.forecast.session`: the onnxruntime CPU session (threads from the config);
* :mod:`~sowcast.forecast.output_writer`: the CF-1.8 output, written step by step;
* :mod:`~sowcast.forecast.rollout_state`: the saved state that makes a run resumable;
* :mod:`~sowcast.forecast.engine`: :func:`run_forecast`, which ties them together.
"""

from sowcast.forecast.engine import ForecastOptions, ForecastResult, run_forecast

__all__ = ["ForecastOptions", "ForecastResult", "run_forecast"]
