"""The measurement workflow core: pure data and statistics, no case knowledge."""

from perflab.measure._amdahl import overall_speedup, speedup_limit
from perflab.measure._case import (
    KINDS,
    SCALES,
    Case,
    Metric,
    RunContext,
    Variant,
    ladder_variants,
    no_session,
)
from perflab.measure._collectors import Collector, LatencyHistogram
from perflab.measure._exports import load_any
from perflab.measure._own import command_case, function_case
from perflab.measure._records import (
    SCHEMA,
    CaseResult,
    MetricSamples,
    Results,
    VariantResult,
    load,
    save,
)
from perflab.measure._runner import RunOptions, run_case
from perflab.measure._stats import (
    Summary,
    geometric_mean,
    is_significant,
    mann_whitney_p,
    median_ci,
)
from perflab.measure._tables import compare_tables, guide_table, ladder_table, references_table
from perflab.measure._timeline import record_event

__all__ = [
    "KINDS",
    "SCALES",
    "SCHEMA",
    "Case",
    "CaseResult",
    "Collector",
    "LatencyHistogram",
    "Metric",
    "MetricSamples",
    "Results",
    "RunContext",
    "RunOptions",
    "Summary",
    "Variant",
    "VariantResult",
    "command_case",
    "compare_tables",
    "function_case",
    "geometric_mean",
    "guide_table",
    "is_significant",
    "ladder_table",
    "ladder_variants",
    "load",
    "load_any",
    "mann_whitney_p",
    "median_ci",
    "no_session",
    "overall_speedup",
    "record_event",
    "references_table",
    "run_case",
    "save",
    "speedup_limit",
]
