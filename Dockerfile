# The example agent image: train.py plus wandb. Your own image needs the same two
# things: your training code and `wandb` on PATH (the launcher runs `wandb agent`).
#   docker build -t ghcr.io/<you>/wandb-sweeps-trainer:0.1.0 . && docker push ...
FROM python:3.11-slim

RUN pip install --no-cache-dir "wandb>=0.31,<0.32" \
 && useradd --uid 1000 --create-home agent
WORKDIR /home/agent/app
COPY train.py .
# The agent runs `python train.py ...` in this directory; W&B files go to $HOME.
# A numeric UID: the pods run with runAsNonRoot, which the kubelet can verify only for a
# number (`USER agent` stops the pod with CreateContainerConfigError).
USER 1000
ENV WANDB_DIR=/home/agent
CMD ["wandb", "--help"]
