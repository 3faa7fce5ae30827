# The example agent image: train.py plus wandb. Your own image needs the same two
# things: your training code and `wandb` on PATH (the launcher runs `wandb agent`).
#   docker build -t ghcr.io/<you>/wandb-sweeps-trainer:0.1.0 . && docker push ...
# The base image by digest, not by its moving tag: python:3.11-slim (Python 3.11.15 on
# Debian trixie, built 2026-08-05) as docker-library/repo-info lists it in
# repos/python/remote/3.11-slim.md (commit 2477d553d2fdfa57b4ec11f63c8376eca8b7a253): the
# multi-platform index. To update it: docs/development.md#the-lock-files.
FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

# wandb and its dependencies from requirements-image.lock: pinned, every file checked
# against its sha256 (--require-hashes), wheels only (no package's build code runs here).
COPY requirements-image.lock /tmp/requirements-image.lock
RUN pip install --no-cache-dir --require-hashes --only-binary :all: -r /tmp/requirements-image.lock \
 && rm /tmp/requirements-image.lock \
 && useradd --uid 1000 --create-home agent
WORKDIR /home/agent/app
COPY train.py .
# The agent runs `python train.py ...` in this directory; W&B files go to $HOME.
# A numeric UID: the pods run with runAsNonRoot, which the kubelet can verify only for a
# number (`USER agent` stops the pod with CreateContainerConfigError).
USER 1000
ENV WANDB_DIR=/home/agent
CMD ["wandb", "--help"]
