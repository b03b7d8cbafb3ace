"""Write the contact sheet ``docs/arrow_examples.png``: training-size and 2x-size samples.

Usage: ``python datasets/arrow_pointing/make_examples.py [--out docs/arrow_examples.png]``
"""
import argparse
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from plstm_geometric.datasets import ArrowPointing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/arrow_examples.png")
    parser.add_argument("--scale", type=float, default=1 / 3, help="object scale (1/3 at 64 px)")
    args = parser.parse_args()
    rows = [(64, "train 64 px"), (128, "2x: 128 px, same objects")]
    cols = 6
    fig, axes = plt.subplots(len(rows), cols, figsize=(2 * cols, 2.25 * len(rows)))
    for r, (size, name) in enumerate(rows):
        ds = ArrowPointing(cols, size, seed=2024, object_scale=args.scale)
        for c in range(cols):
            img, label = ds[c]
            g = ds.geometry(c)
            ax = axes[r, c]
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            # The ray that defines the label, from the arrow's centre.
            reach = 2 * size
            ax.plot([g.arrow_x - 0.5, g.arrow_x - 0.5 + reach * math.cos(g.angle)],
                    [g.arrow_y - 0.5, g.arrow_y - 0.5 + reach * math.sin(g.angle)],
                    color="tab:red" if label else "tab:blue", lw=0.8, ls="--")
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}\nlabel {label}" if c == 0 else f"label {label}", fontsize=8)
    fig.suptitle("Arrow-pointing extrapolation (dashed: the arrow's ray; label 1 = hits the circle)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
