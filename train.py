"""Example trainer for the example sweep: logistic regression on synthetic data.

Pure Python plus wandb, so the example image stays small. The agent runs it as
`python train.py --lr=0.01 --batch_size=32 --epochs=20`. `batch_size` must be an
integer (it is a slice step): a sweep config that reached W&B with 32.0 fails here.
On SIGTERM (pod deleted or preempted) it stops after the current epoch and
finishes the run cleanly instead of leaving it "crashed".
"""

from __future__ import annotations

import argparse
import math
import random
import signal

import wandb

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


def train(lr: float, batch_size: int, epochs: int, seed: int = 0) -> float:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise SystemExit(f"batch_size must be a positive integer, got {batch_size!r}")
    train_set, val_set = make_data(2000, seed), make_data(500, seed + 1)
    weights = [0.0, 0.0, 0.0]
    val_loss = log_loss(weights, val_set)
    for epoch in range(epochs):
        if stop_requested:
            break
        for start in range(0, len(train_set), batch_size):
            batch = train_set[start : start + batch_size]
            grad = [0.0] * len(weights)
            for x, y in batch:
                p = 1 / (1 + math.exp(-sum(w * xi for w, xi in zip(weights, x, strict=True))))
                for i, xi in enumerate(x):
                    grad[i] += (p - y) * xi / len(batch)
            weights = [w - lr * g for w, g in zip(weights, grad, strict=True)]
        val_loss = log_loss(weights, val_set)
        wandb.log({"epoch": epoch, "train_loss": log_loss(weights, train_set), "val_loss": val_loss})
    return val_loss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _request_stop)
    run = wandb.init(config=vars(args))
    val_loss = train(run.config.lr, run.config.batch_size, run.config.epochs)
    run.summary["final_val_loss"] = val_loss
    run.finish()


if __name__ == "__main__":
    main()
