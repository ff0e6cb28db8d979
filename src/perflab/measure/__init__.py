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
from perflab.measure._collectors import Collector, GcWatch, LatencyHistogram, machine_busy_s
from perflab.measure._records import (
    RESULTS_FILE,
    SCHEMA,
    CaseResult,
    MetricSamples,
    Results,
    VariantResult,
    kept_dir_name,
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
from perflab.measure._tables import (
    compare_tables,
    guide_table,
    ladder_table,
    references_table,
    summary_table,
)

__all__ = [
    "KINDS",
    "RESULTS_FILE",
    "SCALES",
    "SCHEMA",
    "Case",
    "CaseResult",
    "Collector",
    "GcWatch",
    "LatencyHistogram",
    "Metric",
    "MetricSamples",
    "Results",
    "RunContext",
    "RunOptions",
    "Summary",
    "Variant",
    "VariantResult",
    "compare_tables",
    "geometric_mean",
    "guide_table",
    "is_significant",
    "kept_dir_name",
    "ladder_table",
    "ladder_variants",
    "load",
    "machine_busy_s",
    "mann_whitney_p",
    "median_ci",
    "no_session",
    "overall_speedup",
    "references_table",
    "run_case",
    "save",
    "speedup_limit",
    "summary_table",
]
