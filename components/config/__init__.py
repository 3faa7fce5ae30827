"""Input: the component's args and the stack config, read and checked into one
`SweepSettings` before anything is registered. Each rule is checked once, here or in
the settings type that owns it (`kubernetes.pods`, `wandb.server`).

- `keys`        the key table: every stack key, its type, default and bound
- `reader`      typed, shape-first reading of raw values, one problem per bad key
- `from_args`   WandbSweepArgs -> SweepSettings (the one validation path)
- `from_stack`  stack config -> WandbSweepArgs and SweepSettings (this repo's program)
- `settings`    the checked settings: SweepSettings, WandbTarget, SweepSource
- `ca_file`     reading and checking the `caCertificate` PEM file
- `scale_warnings`  what `wandb-sweeps check` warns about a sweep too large for one API key
"""
