"""One module per `perflab` subcommand: `configure(parser)` and `main(args)`.

    run         `perflab run`: every case's ladder, tables, kept results, the report
    report      `perflab report`: a results file as Markdown or HTML; the docs' regions
    compare     `perflab compare`: benchstat for two results files
    amdahl      `perflab amdahl`: Amdahl's law
    bench       `perflab bench`: whole commands, hyperfine's job with benchstat's verdicts
    profile     `perflab profile`: where one variant spends its time
    _common     options shared by the measuring commands
    _progress   the progress line: case, step, time left
"""
