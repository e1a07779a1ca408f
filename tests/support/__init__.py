"""Test support: the local cluster and registry fixtures, KWOK pod behaviour, polling."""
