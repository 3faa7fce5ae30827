"""The `wandb-sweeps` command line (also `python -m wandb_sweeps`): a top layer beside the Pulumi face.

Each subcommand is a module here with `add_parser(subparsers)` and `run(args) -> int`;
`main` wires them. The command line may use config/, wandb/, kubernetes/, checks and
errors, never the Pulumi face, and nothing imports it. Its modules import the rest of
the package inside `run`, so that parsing the command line stays cheap.
"""
