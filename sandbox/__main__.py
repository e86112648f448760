"""`python -m sandbox`: run the sandbox API server until interrupted.

Prints the server's URL as the first line of standard output.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import yaml

from sandbox.runner import SandboxServer


def load_manifests(server: SandboxServer, paths: list[Path]) -> int:
    """Store every object in these YAML files (multi-document files too), status included."""
    count = 0
    for path in paths:
        with path.open() as stream:
            for document in yaml.load_all(stream, Loader=yaml.CSafeLoader):
                if document:
                    server.store.put(document)
                    count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server to this file")
    parser.add_argument("--load", type=Path, action="append", default=[], metavar="FILE",
                        help="YAML manifests to store at start-up (repeatable)")
    args = parser.parse_args(argv)

    server = SandboxServer(port=args.port)
    loaded = load_manifests(server, args.load)
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(server.url, flush=True)
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig)
        print(f"kubeconfig written to {args.kubeconfig}", file=sys.stderr)
    print(f"sandbox Kubernetes API at {server.url} ({loaded} objects loaded); Ctrl+C stops it", file=sys.stderr)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
