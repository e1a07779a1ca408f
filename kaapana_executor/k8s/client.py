"""Loading the Kubernetes client configuration: one precedence for the executor and the CLI.

1. an explicit kubeconfig path (the ``kubeconfig`` option or ``--kubeconfig``);
2. in-cluster configuration when running in a pod (``KUBERNETES_SERVICE_HOST`` is set);
3. ``$KUBECONFIG`` or ``~/.kube/config``.

The connection pool is sized for the caller's concurrency: urllib3 otherwise keeps only
``cpu_count * 5`` connections and every further concurrent call opens and drops its own.
"""

from __future__ import annotations

import os

from kubernetes import client, config

from kaapana_executor.errors import KaapanaError


class KubeConfigError(KaapanaError):
    """No usable Kubernetes configuration was found."""


def load_api_client(
    kubeconfig: str | None = None, *, pool_size: int | None = None
) -> client.ApiClient:
    """An API client by the precedence in the module docstring."""
    configuration = client.Configuration()
    try:
        if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
    except (config.ConfigException, OSError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubeConfigError(
            f"cannot load the Kubernetes configuration ({where}): {exc}"
        ) from None
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)
