"""Give a `docker import`ed image the architecture of its files: the daemon records its own architecture for an
import (Debian's docker.io 20.10 ignores `--platform` there), and a build or run `--platform linux/arm64` then
refuses the image. `docker save`, the config's architecture set, `docker load` under the same name.

usage: python3 docker/set_arch.py IMAGE ARCH"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile


def main() -> int:
    image, arch = sys.argv[1:3]
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
    source = tarfile.open(fileobj=io.BytesIO(saved))
    members = {member.name: source.extractfile(member).read() if member.isfile() else None
               for member in source.getmembers()}
    (manifest,) = json.loads(members["manifest.json"])
    config = json.loads(members[manifest["Config"]])
    config["architecture"] = arch
    body = json.dumps(config).encode()
    name = hashlib.sha256(body).hexdigest() + ".json"
    del members[manifest["Config"]]
    members[name] = body
    manifest["Config"] = name
    members["manifest.json"] = json.dumps([manifest]).encode()
    members.pop("repositories", None)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            if member.name in members and members[member.name] is None:
                target.addfile(member)
        for member_name, data in members.items():
            if data is not None:
                info = tarfile.TarInfo(member_name)
                info.size = len(data)
                target.addfile(info, io.BytesIO(data))
    subprocess.run(["docker", "load", "--quiet"], input=out.getvalue(), check=True, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
