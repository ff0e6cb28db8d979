"""The measurement workflow core: pure data and statistics, no case knowledge.

    _case         what a case declares: variants, metrics, the session and run hooks
    _collectors   what one execution records: time, CPU, RSS, GC, allocations, latency
    _worker       the child process that runs one execution
    _runner       a case's rounds of fresh processes, interleaved; budget and stopping
    _stopping     the adaptive stopping rule: when every printed verdict is settled
    _stats        medians, their confidence intervals, Mann-Whitney U, geometric means
    _records      results as immutable data and versioned JSON; kept directories' names
    _tables       the guide, ladder, references, summary and compare tables
    _format       human units and fixed-width text tables
    _environment  the machine and software a run was measured on
    _profile      cProfile of one variant, grouped into the case's categories
    _amdahl       Amdahl's law
    _bench        whole commands measured as hyperfine does, judged as benchstat does
    _own          a ladder of one's own: functions or commands as variants
    _exports      results as per-run CSV (read back) and as a Markdown table
    _gate         the CI gate: metrics significantly worse than a threshold allows
    _stacks       sampled stacks (py-spy): read, convert, compare
    _timeline     the event timeline of one measured run: GC collections, a case's events
"""

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
from perflab.measure._exports import load_any
from perflab.measure._own import command_case, function_case
from perflab.measure._records import (
    RESULTS_FILE,
    SCHEMA,
    CaseResult,
    MetricSamples,
    Results,
    VariantResult,
    keep_benchmark,
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
from perflab.measure._timeline import record_event

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
    "command_case",
    "compare_tables",
    "function_case",
    "geometric_mean",
    "guide_table",
    "is_significant",
    "keep_benchmark",
    "kept_dir_name",
    "ladder_table",
    "ladder_variants",
    "load",
    "load_any",
    "machine_busy_s",
    "mann_whitney_p",
    "median_ci",
    "no_session",
    "overall_speedup",
    "record_event",
    "references_table",
    "run_case",
    "save",
    "speedup_limit",
    "summary_table",
]
