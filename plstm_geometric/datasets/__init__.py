from plstm_geometric.datasets.arrow_pointing import ArrowGeometry, ArrowPointing, ray_hits_circle

__all__ = ["ArrowGeometry", "ArrowPointing", "ray_hits_circle"]
