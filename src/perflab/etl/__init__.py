"""`perflab etl`: a validated CSV -> PostgreSQL bulk loader, and its optimization ladder.

    _gen        the deterministic workload (`perflab etl gen-csv`)
    _types      pure core: column types from the catalog, field validation
    _reader     CSV rows with their raw text and line numbers; byte ranges at row boundaries
    _journal    chunks committed exactly once (a table in the target database, and a file)
    _loader     the load: the ladder's variants as options of one loader, workers
    _cli        `perflab etl load` and `perflab etl gen-csv`
    case        the ladder declared to the harness
"""
