"""``python -m minitwit.healthcheck [PORT]``: the container's probe, at the path the image and
the stack name (Dockerfile HEALTHCHECK, docker-stack.yml). It lives in ``minitwit.ops.healthcheck``.
"""

from __future__ import annotations

import sys

from minitwit.ops.healthcheck import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
