"""A real, tiny userland for images built without Docker: Debian's static busybox.

There is no base image to pull on these machines, so the example processing containers, the
real node's pause image and the test images start from one layer holding ``/bin/busybox``
(Debian's ``busybox-static``, installed by ``scripts/install-podman``), a symbolic link per
applet the images use, the directories a root filesystem needs and a ``/etc/passwd`` that
names root and an unprivileged user (uid/gid 1000). The layer is reproducible: every image
built on the same machine shares it, so a registry stores it once and a node pulls it once.
"""

from __future__ import annotations

from pathlib import Path

from kaapana_executor.oci.build import File, FileContent, ImageBuilder

BUSYBOX = Path("/bin/busybox")
#: The unprivileged user of ``/etc/passwd`` (``USER`` for :meth:`ImageBuilder.user`).
USER_ID = 1000
USER = f"{USER_ID}:{USER_ID}"
#: Applets linked into ``/bin``: shell, file and text tools; no network tools.
APPLETS = (
    "[", "[[", "ash", "awk", "basename", "cat", "chmod", "cmp", "cp", "cut", "date", "dd",
    "df", "diff", "dirname", "du", "echo", "env", "expr", "false", "find", "grep", "gunzip",
    "gzip", "head", "hexdump", "id", "kill", "ln", "ls", "md5sum", "mkdir", "mktemp", "mv",
    "nproc", "od", "printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq",
    "sh", "sha256sum", "sleep", "sort", "stat", "tail", "tar", "tee", "test", "timeout",
    "touch", "tr", "true", "truncate", "uname", "uniq", "wc", "which", "whoami", "xargs",
    "yes", "zcat",
)  # fmt: skip
#: Empty directories of the root filesystem, with their modes.
DIRECTORIES = {
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "tmp": 0o1777,
    "var/tmp": 0o1777,
}
PATH = "/bin"


class BusyboxMissing(FileNotFoundError):
    """The static busybox binary the userland is made of is not installed."""


def userland_files(busybox: Path = BUSYBOX) -> dict[str, FileContent]:
    """The files of the userland layer (binary, applet links, passwd and group)."""
    if not busybox.is_file():
        raise BusyboxMissing(
            f"{busybox} is missing: the images are built from Debian's static busybox "
            "(run scripts/install-podman, or apt-get install busybox-static)"
        )
    files: dict[str, FileContent] = {"bin/busybox": File(busybox.read_bytes(), mode=0o755)}
    files.update({f"bin/{applet}": File(link="busybox") for applet in APPLETS})
    files["etc/passwd"] = (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"kaapana:x:{USER_ID}:{USER_ID}:kaapana:/home/kaapana:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    files["etc/group"] = f"root:x:0:\nkaapana:x:{USER_ID}:\nnogroup:x:65534:\n"
    return files


def with_userland(builder: ImageBuilder, busybox: Path = BUSYBOX) -> ImageBuilder:
    """Add the userland as the builder's next layer and set ``PATH``; returns the builder."""
    return builder.layer(userland_files(busybox), directories=DIRECTORIES).env({"PATH": PATH})
