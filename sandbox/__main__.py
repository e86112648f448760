"""`python -m sandbox`: run the sandbox API server until interrupted.

Prints the server's URL as the first line of standard output. OpenCost's allocation API
(`/allocation/compute`, `/allocation`) is served on the same port. With `--controllers`, the
simulated ArgoCD, KServe and quota controllers run too, over a folder (`--repo DIR`) or, by
default, the portal's repository snapshot (Django is then set up with `portal.settings`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import yaml

from sandbox.opencost import Prices
from sandbox.runner import SandboxServer
from sandbox.store import DEFAULT_NAMESPACES, Store

#: Demo-friendly delays: a few seconds of Progressing before Healthy and Ready.
DEMO_APP_HEALTHY_SECONDS = 3.0
DEMO_ISVC_READY_SECONDS = 5.0


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


def repository_source(repo: Path | None):
    """The default branch the ApplicationSet generator reads: a folder, or the portal's snapshot."""
    from sandbox.controllers import directory_source, snapshot_source

    if repo is not None:
        return directory_source(repo)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    return snapshot_source()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server to this file")
    parser.add_argument("--load", type=Path, action="append", default=[], metavar="FILE",
                        help="YAML manifests to store at start-up (repeatable)")
    parser.add_argument("--controllers", action="store_true",
                        help="run the simulated ArgoCD, KServe and quota controllers")
    parser.add_argument("--repo", type=Path, metavar="DIR",
                        help="with --controllers: read apps/* from this folder instead of the portal's "
                             "repository snapshot (which needs the portal's database)")
    parser.add_argument("--app-healthy-delay", type=float, default=DEMO_APP_HEALTHY_SECONDS, metavar="SECONDS",
                        help=f"an Application stays Progressing this long (default {DEMO_APP_HEALTHY_SECONDS:g})")
    parser.add_argument("--isvc-ready-delay", type=float, default=DEMO_ISVC_READY_SECONDS, metavar="SECONDS",
                        help=f"an InferenceService stays Progressing this long (default {DEMO_ISVC_READY_SECONDS:g})")
    parser.add_argument("--tick", type=float, default=1.0, metavar="SECONDS",
                        help="with --controllers: reconcile at least this often (default 1)")
    parser.add_argument("--model-server", metavar="URL",
                        help="with --controllers: a Ready sklearn InferenceService's address.url is this "
                             "model server (python -m sandbox.modelserver), where \"try it\" requests go")
    parser.add_argument("--no-admission", action="store_true",
                        help="with --controllers: no Kyverno admission (by default the repository's "
                             "infrastructure/kyverno/policies refuse writes that break an Enforce policy)")
    parser.add_argument("--backdate-days", type=float, default=0.0, metavar="DAYS",
                        help="with --controllers: the objects of the first sync were created this many days "
                             "ago (the repository's endpoints have been running a while: their costs have "
                             "a history); default 0")
    prices = Prices()
    parser.add_argument("--price-cpu-hour", type=float, default=prices.cpu_hour, metavar="PRICE",
                        help=f"OpenCost API: price of a CPU core-hour (default {prices.cpu_hour})")
    parser.add_argument("--price-gib-hour", type=float, default=prices.gib_hour, metavar="PRICE",
                        help=f"OpenCost API: price of a GiB of memory for an hour (default {prices.gib_hour})")
    parser.add_argument("--price-gpu-hour", type=float, default=prices.gpu_hour, metavar="PRICE",
                        help=f"OpenCost API: price of a GPU-hour (default {prices.gpu_hour})")
    args = parser.parse_args(argv)
    for option in ("price_cpu_hour", "price_gib_hour", "price_gpu_hour"):
        if getattr(args, option) < 0:
            parser.error(f"--{option.replace('_', '-')}: a price cannot be negative")
    if args.backdate_days and not args.controllers:
        parser.error("--backdate-days needs --controllers")
    if args.backdate_days < 0:
        parser.error("--backdate-days: cannot be negative")
    if args.no_admission and not args.controllers:
        parser.error("--no-admission needs --controllers")
    if args.model_server is not None and not args.controllers:
        parser.error("--model-server needs --controllers")
    if args.model_server is not None and not args.model_server.startswith(("http://", "https://")):
        parser.error(f"--model-server {args.model_server}: expected a URL such as http://127.0.0.1:8767")
    if args.repo is not None and not args.controllers:
        parser.error("--repo needs --controllers")
    if args.repo is not None and not (args.repo / "apps").is_dir():
        parser.error(f"--repo {args.repo}: no apps/ folder there (the ApplicationSet reads apps/*)")

    controllers = None
    if args.controllers:
        from sandbox.controllers import Controllers, Delays

        # ArgoCD's namespace exists before anything lists it.
        server = SandboxServer(Store(namespaces=(*DEFAULT_NAMESPACES, "argocd")), port=args.port)
        source = repository_source(args.repo)
        server.opencost.source = source
        controllers = Controllers(
            server.store,
            source,
            delays=Delays(app_healthy=args.app_healthy_delay, isvc_ready=args.isvc_ready_delay),
            tick=args.tick,
            model_server_url=args.model_server,
            admission=not args.no_admission,
            backdate=args.backdate_days * 86400,
        )
    else:
        server = SandboxServer(port=args.port)
    server.opencost.prices = Prices(args.price_cpu_hour, args.price_gib_hour, args.price_gpu_hour)
    loaded = load_manifests(server, args.load)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    try:
        if controllers is not None:
            controllers.start()
        if args.kubeconfig:
            server.write_kubeconfig(args.kubeconfig)
            print(f"kubeconfig written to {args.kubeconfig}", file=sys.stderr)
        print(server.url, flush=True)
        running = " with ArgoCD, KServe and quota controllers" if controllers is not None else ""
        print(f"sandbox Kubernetes API at {server.url}{running} ({loaded} objects loaded); Ctrl+C stops it",
              file=sys.stderr, flush=True)
        stopped.wait()
    finally:
        if controllers is not None:
            controllers.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
