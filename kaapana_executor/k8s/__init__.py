"""The bottom layer for Kubernetes: names, labels, the API client, and every API call.

:mod:`.client` loads the configuration (one precedence everywhere), :mod:`.retry` is the one
retry policy, :mod:`.gateway` the only code that calls the API server, :mod:`.listwatch` the one
list-then-watch loop and :mod:`.podstate` the pure reading of a pod's status. Everything above
(``images``, ``ledger``, ``launch``, ``runtime``, ``local``) imports from here, never sideways.
"""
