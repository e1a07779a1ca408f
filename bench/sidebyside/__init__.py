"""Side-by-side benchmark (issue 14): KaapanaExecutor against the API server's own ceiling and
Airflow's KubernetesExecutor, on the local cluster's KWOK nodes, in one invocation.

Run: ``eval "$(scripts/cluster env)" && .venv/bin/python -m bench.sidebyside table`` (needs the
``bench`` extra: ``pip install -e '.[bench]'``); ``--help`` lists the other measurements.
"""
