"""The `wandb-sweeps` command: a top layer beside the Pulumi face, which nothing imports.

`main` wires the subcommands; each lives in its own module with `add_parser(subparsers)`
and `run(args) -> int`. Exit codes, for every subcommand: 0 done (shown), 1 a problem
found (with the sweep or the server), 2 usage (argparse's own errors, and anything that
stops the command before it asks W&B: a missing key, an unknown stack); 130 after Ctrl-C.

- `main`    the parser and the dispatch (`wandb-sweeps`, `python -m wandb_sweeps`)
- `status`  `wandb-sweeps status`: which sweep, one refresh or a watch, the exit code
- `stack`   what a Pulumi stack says about its sweep (`pulumi stack output`, `pulumi config`)
- `render`  the table, the JSON object and the progress line
- `watch`   refreshing until the sweep is over: the interval, back-off and exit rules

It may import config/, wandb/, kubernetes/, checks and errors, never the Pulumi face,
and imports pulumi only where a stack's config is read (`status -s`), so a command that
does not need it starts in a fraction of a second.
"""
