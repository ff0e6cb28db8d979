"""Real components with an embedded default: a private PostgreSQL cluster, ..."""
