"""One module per `perflab` subcommand: `configure(parser)` and `main(args)`."""
