"""The forecast network (torch): a GraphCast-style encoder-processor-decoder.

* :mod:`.mlp`: the MLP building block (LayerNorm on the output);
* :mod:`.interaction_network`: one message-passing layer; scatter-free aggregation;
* :mod:`.graph_network`: encoder (grid2mesh), processor (multimesh), decoder (mesh2grid);
* :mod:`.normalization`: statistics and the normalised increment;
* :mod:`.forecaster`: :class:`Forecaster`, physical units in and out, and :func:`build_forecaster`.
"""

from sowcast.model.forecaster import Forecaster, build_forecaster

__all__ = ["Forecaster", "build_forecaster"]
