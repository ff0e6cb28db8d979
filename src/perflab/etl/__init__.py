"""`perflab etl`: a validated CSV -> PostgreSQL bulk loader, and its optimization ladder.

    _gen        the deterministic workload (`perflab etl gen-csv`)
    _csv        pure core: the dialect, and PostgreSQL's CSV semantics in Python
    _types      pure core: column types from the catalog, field validation
    _fastpath   one regex that accepts a whole CSV line only when it is certainly valid
    _catalog    the table's columns, and the file's columns mapped onto them
    _infer      --create-table: column types from the header and a sample
    _source     the input: a file, a .gz/.zst stream, standard input
    _reader     byte ranges at row boundaries, and reading one
    _journal    chunks committed exactly once (a table in the target database, and a file)
    _upsert     --on-conflict: a staging table and INSERT ... ON CONFLICT
    _loader     the load: the ladder's variants as options of one loader, workers
    _load       `load()`: CSV files into one table, from the catalog to the summary
    _fanout     one compressed stream's windows on several connections, committed in order
    _impl       the ladder of variants
    _cli        `perflab etl load` and `perflab etl gen-csv`
    case        the ladder declared to the harness
"""
