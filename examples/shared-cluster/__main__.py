"""Two sweeps next to each other on a shared GPU cluster, with the wandb_sweeps library.

The platform team gave us the namespace `team-vision` and the Kueue LocalQueue
`team-vision-gpus`; we cannot create namespaces. Each model gets its own sweep;
both sweeps' agents queue in Kueue against the team's quota.

`pulumi config set --secret wandbApiKey <key>`, then `pulumi up`.
"""

import pulumi
import pulumi_kubernetes as k8s

from wandb_sweeps import WandbSweep

config = pulumi.Config()

# The trainer image. In a real program this is the output of its build, e.g.
#   image = docker_build.Image("trainer", ...).ref
# Here a ConfigMap (a "release record") stands in, so the example needs no registry;
# either way the image is an Output, which WandbSweep takes as it is.
release = k8s.core.v1.ConfigMap(
    "trainer-release",
    metadata={"namespace": "team-vision"},
    data={"image": config.require("image")},
)
image = release.data.apply(lambda data: data["image"])

for model in ("resnet", "vit"):
    sweep = WandbSweep(
        model,
        {
            "project": "vision",
            "sweep_config": f"sweeps/{model}.yaml",
            "namespace": "team-vision",
            "create_namespace": False,  # given to us by the platform team
            "queue_name": "team-vision-gpus",  # Kueue LocalQueue
            "image": image,
            "wandb_api_key": config.require_secret("wandbApiKey"),
            "pods": 2,
            "gpus_per_pod": 1,
            "labels": {"team": "vision", "model": model},
        },
    )
    pulumi.export(f"{model}SweepUrl", sweep.sweep_url)
    pulumi.export(f"{model}Jobs", sweep.job_names)
