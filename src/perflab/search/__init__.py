"""`perflab search`: a grep-like recursive search, and its optimization ladder.

Nothing is imported here: `perflab search` start-up is a measured feature, so
each module is imported by whoever needs it.

    _cli        argument parsing and the run of one search (the public entry point)
    _impl       the ladder's variants as option sets (baseline ... final)
    _matcher    pure core: pattern compilation, required-literal prefilter, line scanning
    _walk       directory walkers (os.walk + stat, scandir), filters, binary detection
    _files      searching one file (line-by-line text engine, whole-buffer bytes engine)
    _output     formatting matches (plain, -n, -l, -c, --json, colour)
    _parallel   sequential, thread and process drivers
    _fork       an ordered map over forked worker processes, for a CLI that starts fast
    _corpus     the deterministic benchmark corpus
    case        the ladder declared to the harness
"""
