"""Example trainer for the example sweep: logistic regression on synthetic data.

Pure Python plus wandb, so the example image stays small. The agent runs it as
`python train.py --lr=0.01 --batch_size=32 --epochs=20`. `batch_size` must be an
integer (it is a slice step): a sweep config that reached W&B with 32.0 fails here.

Preemption (a spot node reclaimed, a pod evicted): the launcher's `wandb agent -f`
forwards SIGTERM here. The trainer then stops after the current batch, saves a
checkpoint, marks the run preempting and exits 143: W&B records the run as
PREEMPTED and the sweep hands the same run (same id, same parameters) to an agent
again, instead of counting a cut-short run as finished. With CHECKPOINT_DIR set to a
volume every pod can reach (a ReadWriteMany PVC), the re-queued run continues from
its last checkpoint; without it, it starts over.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
from pathlib import Path

import wandb

PREEMPTED_EXIT = 143  # 128 + SIGTERM: non-zero, so W&B keeps the preempting mark

stop_requested = False


def _request_stop(_signum: int, _frame: object) -> None:
    global stop_requested
    stop_requested = True


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    rng = random.Random(seed)
    true_w = [1.5, -2.0, 0.7]
    data = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in true_w]
        p = 1 / (1 + math.exp(-sum(w * xi for w, xi in zip(true_w, x, strict=True))))
        data.append((x, 1 if rng.random() < p else 0))
    return data


def log_loss(weights: list[float], data: list[tuple[list[float], int]]) -> float:
    total = 0.0
    for x, y in data:
        p = 1 / (1 + math.exp(-sum(w * xi for w, xi in zip(weights, x, strict=True))))
        p = min(max(p, 1e-9), 1 - 1e-9)
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(data)


class Checkpoints:
    """One JSON file per run id: a re-queued run has the same id, so it finds its own."""

    def __init__(self, directory: str | None, run_id: str) -> None:
        self.path = Path(directory) / f"{run_id}.json" if directory else None

    def load(self) -> dict | None:
        if self.path is None or not self.path.exists():
            return None
        return json.loads(self.path.read_text())

    def save(self, epoch: int, weights: list[float]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({"epoch": epoch, "weights": weights}))
        partial.replace(self.path)  # never a half-written checkpoint, even if killed here


def train(lr: float, batch_size: int, epochs: int, checkpoints: Checkpoints, seed: int = 0) -> float | None:
    """The final validation loss, or None when stopped early (SIGTERM)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise SystemExit(f"batch_size must be a positive integer, got {batch_size!r}")
    train_set, val_set = make_data(2000, seed), make_data(500, seed + 1)
    weights, first_epoch = [0.0, 0.0, 0.0], 0
    saved = checkpoints.load()
    if saved is not None:
        weights, first_epoch = saved["weights"], saved["epoch"] + 1
        print(f"resuming from the checkpoint of epoch {saved['epoch']}", flush=True)
    val_loss = log_loss(weights, val_set)
    for epoch in range(first_epoch, epochs):
        for start in range(0, len(train_set), batch_size):
            if stop_requested:
                return None  # the last checkpoint stays; this epoch is redone on resume
            batch = train_set[start : start + batch_size]
            grad = [0.0] * len(weights)
            for x, y in batch:
                p = 1 / (1 + math.exp(-sum(w * xi for w, xi in zip(weights, x, strict=True))))
                for i, xi in enumerate(x):
                    grad[i] += (p - y) * xi / len(batch)
            weights = [w - lr * g for w, g in zip(weights, grad, strict=True)]
        val_loss = log_loss(weights, val_set)
        wandb.log({"epoch": epoch, "train_loss": log_loss(weights, train_set), "val_loss": val_loss})
        checkpoints.save(epoch, weights)
    return val_loss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    # A re-queued run may get extra flags (e.g. --_wandb=...): ignore what is not ours.
    args, _unknown = parser.parse_known_args(argv)
    signal.signal(signal.SIGTERM, _request_stop)
    # resume="allow": a re-queued run continues the same W&B run (its id comes from the
    # agent's WANDB_RUN_ID; an `id=` here would be ignored in a sweep).
    run = wandb.init(config=vars(args), resume="allow")
    checkpoints = Checkpoints(os.environ.get("CHECKPOINT_DIR"), run.id)
    val_loss = train(run.config.lr, run.config.batch_size, run.config.epochs, checkpoints)
    if val_loss is None:
        run.mark_preempting()
        run.finish(exit_code=PREEMPTED_EXIT)
        sys.exit(PREEMPTED_EXIT)
    run.summary["final_val_loss"] = val_loss
    run.finish()


if __name__ == "__main__":
    main()
