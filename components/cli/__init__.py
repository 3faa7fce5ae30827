"""The `wandb-sweeps` command: a top layer beside the Pulumi face, which nothing imports.

`main` wires the subcommands; each lives in its own module with `add_parser(subparsers)`
and `run(args) -> int`. Exit codes, for every subcommand: 0 done (all checks pass, the
sweep shown), 1 a problem found (in the stack, with the sweep or the server), 2 usage
(argparse's own errors, and anything that stops the command before it starts: an unknown
stack, a missing key); 130 after Ctrl-C.

- `main`         the parser and the dispatch (`wandb-sweeps`, `python -m wandb_sweeps`)
- `check`        `wandb-sweeps check`: every check of `pulumi preview`, offline
- `stack_files`, `go_yaml`  Pulumi.yaml and Pulumi.<stack>.yaml read as the Pulumi CLI reads them
- `status`       `wandb-sweeps status`: which sweep, one refresh or a watch, the exit code
- `stack`        what a Pulumi stack says about its sweep (`pulumi stack output`, `pulumi config`)
- `render`       the status table, the JSON object and the progress line
- `watch`        refreshing until the sweep is over: the interval, back-off and exit rules

It may import config/, wandb/, kubernetes/, checks and errors, never the Pulumi face.
Its modules import the rest of the package inside `run`, so that parsing the command
line stays cheap.
"""
