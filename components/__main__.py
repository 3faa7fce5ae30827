"""`python -m wandb_sweeps COMMAND ...`: the same command line as the `wandb-sweeps` script."""

from .cli.main import main

raise SystemExit(main())
