"""`perflab etl`: a validated CSV -> PostgreSQL bulk loader, and its optimization ladder.

    _gen        the deterministic workload (`perflab etl gen-csv`)
    _types      pure core: column types from the catalog, field validation
    _fastpath   one regex that accepts a whole CSV line only when it is certainly valid
    _reader     CSV rows with their raw text and line numbers; byte ranges at row boundaries
    _journal    chunks committed exactly once (a table in the target database, and a file)
    _loader     the load: the ladder's variants as options of one loader, workers
    _load       `load()`: one CSV file into one table, from the catalog to the summary
    _impl       the ladder of variants
    _cli        `perflab etl load` and `perflab etl gen-csv`
    case        the ladder declared to the harness
"""
