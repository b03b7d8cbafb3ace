"""``python -m plstm_geometric``: the same entry point as the ``plstm-geometric`` script."""
from .cli import main

main()
