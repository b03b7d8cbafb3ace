"""Print per-epoch training losses of runs as a markdown table (the no-collapse check of issue 11).

    python experiments/collect_losses.py --prior 0.1597 runs/ogbg-molhiv-plstm-hn runs/ogbg-molhiv-gine-vn

One row per seed / fold folder (``<run>/<seed...>/metrics.csv``); with ``--prior`` a last column
says whether every loss from epoch 2 on is below it.
"""
import argparse
import csv
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--prior", type=float, help="label-prior entropy to compare with")
    args = p.parse_args()
    rows = []
    for run in map(Path, args.runs):
        for path in sorted(run.glob("*/metrics.csv")):
            losses = [float(r["train_loss"]) for r in csv.DictReader(open(path))]
            rows.append((f"{run.name}/{path.parent.name}", losses))
    width = max(len(losses) for _, losses in rows)
    head = ["run"] + [f"ep {i}" for i in range(1, width + 1)]
    head += ["below prior from ep 2"] if args.prior is not None else []
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, losses in rows:
        cells = [name] + [f"{v:.4f}" for v in losses] + [""] * (width - len(losses))
        if args.prior is not None:
            cells.append("yes" if len(losses) >= 2 and all(v < args.prior for v in losses[1:])
                         else "no")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
