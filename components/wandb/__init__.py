"""The W&B side: the sweep file, W&B's schema, the GraphQL transport, the operations and
the adoption rules. No Pulumi, no Kubernetes: the sweep provider (`sweep_provider`) is the
only caller at deploy time, and these modules never import wandb at module level, so the
program process does not pay for it.

- `sweep_file`  reading the sweep YAML, bounded, and the shape W&B can keep (layers 1-2)
- `schema`      W&B's own schema and checks (layers 3-5), and the config text a create sends
- `server`      which server and sweep: base URLs, ids, paths, states, what destroy does
- `transport`   one bounded GraphQL POST per attempt, retries, TLS, the named errors
- `exchange`    one HTTP exchange: the deadline on every read and send, TLS, no redirect, proxies
- `operations`  default entity, read, find, stop, create (at most once)
- `adoption`    when a sweep found by its display name is certainly ours
"""
