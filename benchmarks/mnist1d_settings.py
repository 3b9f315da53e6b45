"""How MNIST-1D's generator settings shape a learning curve: one fixed model per setting.

Not a sweep: for each generator setting and training-set size it trains one model (an MLP
or the methodology chapter's ConvNet, one width), Adam at a fixed learning rate, and keeps
the best validation cross-entropy and error over evaluations every pass (it stops at the
end of a pass once 8 evaluations brought no improvement). The engine's trainer is not used
because the methodology task draws only the published settings. It shows, cheaply, whether
a setting's curve falls steadily, collapses to zero (no noise) or stops at a floor (noise),
before a pilot runs the chapters' searches on it. One thread; the numbers the methodology
and image chapters' notes quote came from it. Each command draws one pool per setting, of
its largest size plus 4,000 signals for V, so the numbers depend on the sizes listed. Usage::

    python benchmarks/mnist1d_settings.py cnn 32 hard,warped 640,2560,10240,40960
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from scaling_core.data.mnist1d_variants import VARIANTS, _generate
from scaling_core.models.mnist1d_nets import MLP, ConvNet

WARPED = {k: v for k, v in VARIANTS["hard"].items() if k in ("shear_scale", "scale_coeff")}
SETTINGS = {
    "published": VARIANTS["default"],
    "clean": dict(corr_noise_scale=0.0, iid_noise_scale=0.0),
    "hard": VARIANTS["hard"],
    "hardmid": dict(WARPED, corr_noise_scale=0.3, iid_noise_scale=0.03),
    "hardclean": dict(WARPED, corr_noise_scale=0.0, iid_noise_scale=0.0),
    "warped": WARPED,
}
"""Generator settings that differ from MNIST-1D's published ones, by name: the image chapter's
variants, and ``hard``'s shears and scales (``warped``) with less noise or none."""

N_VAL = 4000


def best_scores(model: torch.nn.Module, x, y, x_val, y_val, lr: float = 3e-3, patience: int = 8):
    """Train with Adam; return (best validation cross-entropy, its error, the step it came at)."""
    optimizer = torch.optim.Adam(model.parameters(), lr)
    batch = 64 if len(y) < 4096 else 128
    every = max(20, len(y) // batch)  # evaluate once per pass, at least every 20 steps
    best, bad, step = (float("inf"), 1.0, 0), 0, 0
    while bad < patience:
        for idx in torch.randperm(len(y)).split(batch):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % every:
                continue
            with torch.no_grad():
                logits = model(x_val)
            val_loss = F.cross_entropy(logits, y_val).item()
            if val_loss < best[0]:
                best, bad = (val_loss, (logits.argmax(1) != y_val).float().mean().item(), step), 0
            else:
                bad += 1
    return best  # the patience is checked after each full pass


def main() -> None:
    command = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command.add_argument("family", choices=["mlp", "cnn"])
    command.add_argument("width", type=int)
    command.add_argument("settings", help=f"comma-separated names from {', '.join(SETTINGS)}")
    command.add_argument("sizes", help="comma-separated training-set sizes")
    args = command.parse_args()
    torch.set_num_threads(1)
    sizes = [int(n) for n in args.sizes.split(",")]
    print("| setting | model | samples | val cross-entropy | val error | best step | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name in args.settings.split(","):
        x, y = _generate(max(sizes) + N_VAL, 0, SETTINGS[name])
        x = (x - x.mean()) / x.std()
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        for n in sizes:
            torch.manual_seed(0)
            model = MLP(args.width) if args.family == "mlp" else ConvNet(args.width)
            start = time.time()
            loss, error, step = best_scores(model, x[:n], y[:n], x[-N_VAL:], y[-N_VAL:])
            print(f"| {name} | {args.family} {args.width} | {n} | {loss:.4f} | {error:.4f} | {step} | "
                  f"{time.time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
