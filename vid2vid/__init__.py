"""vid2vid: Video-to-Video Synthesis (Wang et al., NeurIPS 2018, arXiv:1808.06601).

The package reads like the paper, bottom to top, and imports only downward:
``config`` -> ``data`` -> ``flow`` -> ``models`` -> ``losses`` -> ``training`` ->
``inference`` -> ``metrics``; ``__main__`` (the command line) sits on top.
"""

__version__ = "0.1.0"
