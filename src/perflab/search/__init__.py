"""`perflab search`: a grep-like recursive search, and its optimization ladder.

Nothing is imported here: `perflab search` start-up is a measured feature, so
each module is imported by whoever needs it.

    _cli        argument parsing and the run of one search (the public entry point)
    _impl       the ladder's variants as option sets (baseline ... final)
    _matcher    pure core: patterns (-e, -f, -x, -w, Unicode -i), literal prefilter, scanning
    _walk       directory walkers (os.walk + stat, scandir), globs, where ignore rules apply
    _ignore     gitignore rules (.gitignore, .ignore, .rgignore, info/exclude, global)
    _types      rg's file types for -t/-T
    _files      searching one file (line-by-line text engine, whole-buffer bytes engine)
    _find       a literal's next occurrence in a batch buffer (glibc's memmem, via ctypes)
    _stdin      standard input searched as it comes, a window of complete lines at a time
    _output     pure core: one file's output (grep's lines, -v, -o, context, -c, -l,
                binary files, -z/-Z, --json, colour)
    _parallel   sequential, thread and process drivers
    _fork       an ordered map over forked worker processes, for a CLI that starts fast
    _corpus     the deterministic benchmark corpus
    case        the ladder declared to the harness
"""
