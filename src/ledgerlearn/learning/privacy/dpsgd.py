"""DP-SGD for a data provider, with Opacus: per-sample clipping, Gaussian noise, Poisson batches.

Abadi et al., *Deep Learning with Differential Privacy*, CCS 2016 (DP-SGD); per-sample
gradients and the noisy optimizer are Opacus's (Yousefpour et al., *Opacus: User-Friendly
Differential Privacy Library in PyTorch*, 2021): ``GradSampleModule`` computes each example's
gradient (hooks for Conv2d/Linear, functorch for other layers), ``DPOptimizer`` clips each to
``max_grad_norm``, sums, adds N(0, (noise_multiplier · max_grad_norm)²) and divides by the
expected batch size.

Each step draws a Poisson batch (every example with probability
``accounting.sample_rate(batch_size, samples)``), which is what the RDP accountant assumes;
an epoch is ``ceil(samples / batch_size)`` steps. Batches and noise come from generators
seeded by the training seed, so a run is bitwise reproducible on the CPU. ``train_local``
(learning/training.py) runs this loop when its config carries a :class:`PrivacyConfig`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.privacy.accounting import sample_rate

__all__ = ["PrivacyConfig", "private_epochs"]


@dataclass(frozen=True)
class PrivacyConfig:
    """The DP-SGD settings a model's rules impose (and the δ its ε is accounted at)."""

    noise_multiplier: float
    max_grad_norm: float
    delta: float = 1e-5

    def __post_init__(self) -> None:
        problems = []
        if not (isinstance(self.noise_multiplier, (int, float)) and self.noise_multiplier > 0):
            problems.append(f"noise_multiplier must be > 0, got {self.noise_multiplier!r}")
        if not (isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0):
            problems.append(f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if not (isinstance(self.delta, (int, float)) and 0 < self.delta < 1):
            problems.append(f"delta must lie in (0, 1), got {self.delta!r}")
        if problems:
            raise TrainingError("bad privacy config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def private_epochs(
    module: Any, optimizer: Any, x: Any, y: Any, *, epochs: int, batch_size: int, seed: int,
    privacy: PrivacyConfig, lr_decay: float = 1.0,
) -> tuple[Any, dict[str, Any]]:
    """Train ``module`` in place with DP-SGD; returns (last epoch's summed loss, the privacy
    record: steps, sample_rate, batch_size, noise_multiplier, max_grad_norm)."""
    import torch
    import torch.nn.functional as F
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    n = len(y)
    try:
        private = GradSampleModule(module, loss_reduction="mean")
    except Exception as exc:  # e.g. BatchNorm: Opacus refuses layers that mix samples
        raise TrainingError(f"DP-SGD cannot train this model: {exc}") from None
    q = sample_rate(batch_size, n)
    noise = torch.Generator().manual_seed(seed * 2 + 1)
    dp_optimizer = DPOptimizer(
        optimizer, noise_multiplier=float(privacy.noise_multiplier),
        max_grad_norm=float(privacy.max_grad_norm), expected_batch_size=batch_size,
        loss_reduction="mean", generator=noise,
    )
    batches = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(n / batch_size)
    params = [p for p in module.parameters() if p.requires_grad]
    private.train()
    epoch_loss = torch.zeros(())
    steps = 0
    for _ in range(epochs):
        epoch_loss = torch.zeros(())
        for _ in range(steps_per_epoch):
            index = (torch.rand(n, generator=batches) < q).nonzero()[:, 0]
            dp_optimizer.zero_grad(set_to_none=True)
            if len(index) == 0:  # an empty Poisson batch still gets its noise
                for p in params:
                    p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
            else:
                loss = F.cross_entropy(private(x[index]), y[index])
                loss.backward()
                epoch_loss += loss.detach() * len(index)
            dp_optimizer.step()
            steps += 1
        if lr_decay != 1.0:
            for group in dp_optimizer.param_groups:
                group["lr"] *= lr_decay
    private._close()
    record = {
        "steps": steps,
        "sample_rate": q,
        "batch_size": batch_size,
        "noise_multiplier": float(privacy.noise_multiplier),
        "max_grad_norm": float(privacy.max_grad_norm),
    }
    return epoch_loss, record
