"""A local stand-in for the cluster side of the platform, for the demo and the tests.

Production code never imports this package.
"""

from sandbox.runner import Sandbox, SandboxServer, running_sandbox, write_kubeconfig
from sandbox.store import Store

__all__ = ["Sandbox", "SandboxServer", "Store", "running_sandbox", "write_kubeconfig"]
