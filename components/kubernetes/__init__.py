"""The Kubernetes side: what the agent pods and Jobs are, which pod settings are valid,
and the launcher each pod runs. No W&B calls and no resource registration: the
component (`wandb_sweep`) registers what `agent_job` builds.

- `pods`          the typed, self-validating settings of the agent pods and Jobs
- `pod_security`  the Restricted Pod Security Standard rules for what users write
- `schema`        user-written pod pieces checked against the official Kubernetes schema
- `api_rules`     what the API server refuses beyond that schema (env names, labels, ...), with sources
- `ca_bundle`     what a private CA adds to the pods (ConfigMap, volumes, env)
- `agent_scale`   what the sweep's size gives the pods: start spread, W&B client timeouts (a ConfigMap)
- `agent_job`     pure builders of the agent Jobs and their pod specs
- `launcher/`     the POSIX sh program each agent pod runs, in three parts (agent_job.LAUNCHER_PARTS)
"""
