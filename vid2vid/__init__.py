"""vid2vid: Video-to-Video Synthesis (Wang et al., NeurIPS 2018, arXiv:1808.06601).

The package reads like the paper, bottom to top, and imports only downward:
``config`` and ``flow`` (warping and flow estimation on plain tensors) -> ``data`` (folder
layout, datasets, the synthetic generator) -> ``models`` -> ``losses`` -> ``training`` ->
``inference`` -> ``metrics``; ``commands`` and ``__main__`` (the command line) sit on top.
"""

__version__ = "0.1.0"
