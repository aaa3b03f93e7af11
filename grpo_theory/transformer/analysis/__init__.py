r"""The theory on a tiny transformer: per-sample scores, DPO against 2-GRPO, control variates,
fixed-budget variance and the discard rate.

The paper's analysis checked on the gradients of a
:class:`~grpo_theory.transformer.model.Transformer` policy, one concept per submodule:

* :mod:`~grpo_theory.transformer.analysis.scores`: the parameter vector, per-sample sequence
  scores and token scores, which every other submodule builds on;
* :mod:`~grpo_theory.transformer.analysis.dpo`: DPO against 2-GRPO on one pair, the closed forms
  of every loss aggregation, and clipping off-policy;
* :mod:`~grpo_theory.transformer.analysis.control_variates`: pairing within prompts,
  control-variate statistics split within and across prompts, the paper's Table-2 measurement;
* :mod:`~grpo_theory.transformer.analysis.budget`: conditional score moments, the exact engine's
  prediction of the fixed-budget batch trace, its measurement and their comparison;
* :mod:`~grpo_theory.transformer.analysis.discard`: sampled group counts and the discard-rate
  check.

Every public name of the submodules is re-exported here. Locals use shape suffixes: **N** rows
(samples, prompts), **D** parameters, **L** completion tokens, **G** group size.
"""

from __future__ import annotations

from grpo_theory.transformer.analysis.budget import (
    BatchTraceMeasurement,
    BatchTracePrediction,
    ScoreMoments,
    TraceAgreement,
    batch_trace_from_scores,
    compare_trace,
    measure_batch_trace,
    predict_batch_trace,
    sample_score_moments,
    score_moments,
)
from grpo_theory.transformer.analysis.control_variates import (
    PAPER_TABLE2,
    ControlVariateStats,
    Table2Measurement,
    control_variate_stats,
    pair_within_prompts,
    paper_table2_measurement,
    response_means,
    table2_statistics,
)
from grpo_theory.transformer.analysis.discard import (
    DiscardCheck,
    discard_check,
    sample_group_counts,
)
from grpo_theory.transformer.analysis.dpo import (
    ClippingRelation,
    DPORelation,
    clipping_relation,
    dpo_relation,
    two_grpo_closed_form,
)
from grpo_theory.transformer.analysis.scores import (
    CHUNK_ROWS,
    parameter_vector,
    score_vectors,
    token_score_vectors,
    with_parameters,
)

__all__ = [
    "CHUNK_ROWS",
    "PAPER_TABLE2",
    "parameter_vector",
    "with_parameters",
    "score_vectors",
    "token_score_vectors",
    "two_grpo_closed_form",
    "DPORelation",
    "dpo_relation",
    "ClippingRelation",
    "clipping_relation",
    "pair_within_prompts",
    "ControlVariateStats",
    "control_variate_stats",
    "response_means",
    "Table2Measurement",
    "table2_statistics",
    "paper_table2_measurement",
    "ScoreMoments",
    "score_moments",
    "sample_score_moments",
    "BatchTracePrediction",
    "predict_batch_trace",
    "BatchTraceMeasurement",
    "measure_batch_trace",
    "batch_trace_from_scores",
    "TraceAgreement",
    "compare_trace",
    "sample_group_counts",
    "DiscardCheck",
    "discard_check",
]
