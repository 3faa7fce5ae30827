"""`python -m wandb_sweeps COMMAND ...`: the `wandb-sweeps` command."""

from .cli.main import main

raise SystemExit(main())
