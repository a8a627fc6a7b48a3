"""pytest settings for the whole repository (``pytest`` runs tests/ and, through nbval, notebooks/)."""

import os

# Notebooks collected by nbval follow VID2VID_SMOKE (their parameters cell): CI runs them small.
os.environ.setdefault("VID2VID_SMOKE", "1")
# The models under test are tiny; on a 2-core machine several OpenMP threads per process (and the
# subprocesses that tests start) mostly wait for each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")
