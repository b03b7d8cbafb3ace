"""Build ogbg-molhiv offline from MoleculeNet's HIV.csv (see datasets/README.md).

    python datasets/build_ogbg_molhiv.py PATH/HIV.csv ROOT [--force]
"""
import argparse

from plstm_geometric.data import build_ogbg_molhiv

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv")
    parser.add_argument("root")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    build_ogbg_molhiv(args.csv, args.root, force=args.force)
