"""DAGs the real-node end-to-end tests trigger (tests/integration/test_real_node_e2e.py).

The images are the examples' (``kaapana/dummy``, uid 1000) and a root busybox; "inline"
templates (a template object instead of a name) never read the image's metadata, so a missing
tag or a root image reaches the kubelet, which is what those tests are about.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator

DUMMY = "{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:1"


def inline(
    script: str,
    image: str = DUMMY,
    limits: dict[str, str] | None = None,
    outputs: tuple[str, ...] = (),
    **fields: Any,
) -> dict[str, Any]:
    """A task with its template given inline: ``sh -c SCRIPT``, outputs below /out."""
    template: dict[str, Any] = {
        "identifier": "inline",
        "description": "a test command",
        "command": ["/bin/sh", "-c", script],
        "outputs": [{"name": name, "mounted_path": f"/out/{name}"} for name in outputs],
    }
    if limits:
        template["resources"] = {"limits": limits}
    return {"name": "real-e2e", "image": image, "taskTemplate": template, **fields}


with DAG("real_scale", schedule=None, catchup=False) as scale:
    upstream = KaapanaTaskOperator(
        task_id="upstream",
        task_json={
            "name": "big upstream",
            "image": DUMMY,
            "taskTemplate": "upstream",
            "env": [
                {"name": "PAYLOAD_KIB", "value": "40960"},
                {"name": "TIME_SLEEP", "value": "0"},
            ],
            "outputs": [{"name": "channel1"}, {"name": "channel2"}],
        },
    )
    downstream = KaapanaTaskOperator(
        task_id="downstream",
        task_json={
            "name": "scaled downstream",
            "image": DUMMY,
            "taskTemplate": "downstream",
            "inputs": [
                {"name": "channel1", "from": {"task": "upstream", "channel": "channel1"}},
                {"name": "channel2", "from": {"task": "upstream", "channel": "channel2"}},
            ],
        },
    )
    upstream >> downstream

with DAG("real_exit3", schedule=None, catchup=False) as exit3:
    KaapanaTaskOperator(
        task_id="exit3",
        retries=1,
        retry_delay=timedelta(seconds=0),
        task_json=inline("echo 'about to fail'; exit 3"),
    )

# dd's 200 MiB buffer under a 64Mi limit: the kernel kills dd.
with DAG("real_oom", schedule=None, catchup=False) as oom:
    KaapanaTaskOperator(
        task_id="oom",
        task_json=inline("dd if=/dev/zero of=/dev/null bs=200M count=1", limits={"memory": "64Mi"}),
    )

# The shell survives its OOM-killed child and exits 0: the kubelet says OOMKilled, exit 0.
with DAG("real_oom_exit0", schedule=None, catchup=False) as oom_exit0:
    KaapanaTaskOperator(
        task_id="oom",
        task_json=inline(
            "dd if=/dev/zero of=/dev/null bs=200M count=1; echo 'after the kill'",
            limits={"memory": "64Mi"},
        ),
    )

with DAG("real_pull_secret", schedule=None, catchup=False) as pull_secret:
    KaapanaTaskOperator(
        task_id="private",
        task_json={
            "name": "from the basic-auth registry",
            "image": "{{ env.KAAPANA_REGISTRY_AUTH }}/kaapana/dummy:1",
            "taskTemplate": "upstream",
            "env": [{"name": "TIME_SLEEP", "value": "0"}],
            "config": {"imagePullSecrets": ["registry-auth"]},
        },
    )

with DAG("real_pull_secret_inline", schedule=None, catchup=False) as pull_secret_inline:
    KaapanaTaskOperator(
        task_id="private",
        task_json=inline(
            'echo "pulled with a secret, uid $(id -u)"',
            image="{{ env.KAAPANA_REGISTRY_AUTH }}/kaapana/dummy:1",
            config={"imagePullSecrets": ["registry-auth"]},
        ),
    )

with DAG("real_no_secret", schedule=None, catchup=False) as no_secret:
    KaapanaTaskOperator(
        task_id="private",
        task_json=inline("echo never", image="{{ env.KAAPANA_REGISTRY_AUTH }}/kaapana/dummy:1"),
    )

with DAG("real_missing_tag", schedule=None, catchup=False) as missing_tag:
    KaapanaTaskOperator(
        task_id="missing",
        task_json=inline(
            "echo never", image="{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:no-such-tag"
        ),
    )

with DAG("real_root_image", schedule=None, catchup=False) as root_image:
    KaapanaTaskOperator(
        task_id="root",
        task_json=inline("id -u", image="{{ env.KAAPANA_REGISTRY }}/test/busybox:root"),
    )

# Runs until cleared or marked; says how many entries its output had when it started, and
# what it got when the kubelet stops it.
with DAG("real_clear", schedule=None, catchup=False) as clear:
    KaapanaTaskOperator(
        task_id="forever",
        task_json=inline(
            "trap 'echo got SIGTERM; exit 143' TERM; "
            'echo "entries at start: $(ls -A /out/work | wc -l)"; '
            'touch "/out/work/written-by-$(hostname)"; echo working; '
            "while true; do sleep 1; done",
            outputs=("work",),
        ),
    )

# Prints the platform environment: a plain value and a secret the kubelet resolves.
with DAG("real_platform_env", schedule=None, catchup=False) as platform_env:
    KaapanaTaskOperator(
        task_id="env",
        task_json=inline('echo "aii=$KAAPANA_AII_URL secret=$KAAPANA_CLIENT_SECRET"'),
    )

# A container that never ends, with a 5 s execution_timeout (the pod's activeDeadlineSeconds).
with DAG("real_timeout", schedule=None, catchup=False) as timeout:
    KaapanaTaskOperator(
        task_id="hang",
        task_json=inline("echo hanging; while true; do sleep 1; done"),
        execution_timeout=timedelta(seconds=5),
    )

# Runs until its node goes away (the kubelet-stop test).
with DAG("real_kubelet", schedule=None, catchup=False) as kubelet:
    KaapanaTaskOperator(
        task_id="forever", task_json=inline("echo started; while true; do sleep 1; done")
    )
