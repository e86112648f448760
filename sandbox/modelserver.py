"""The sandbox's shared KServe model server: one real `kserve` server answering for every endpoint.

In the reference platform each `sklearn` InferenceService runs KServe's scikit-learn server
with the iris model from `gs://kfserving-examples/models/sklearn/1.0/model`. Here one
process stands in for all of them: the same `kserve` package serves the V1 protocol
(`POST /v1/models/<name>:predict`, `GET /v1/models/<name>`) and the Open Inference Protocol
(`POST /v2/models/<name>/infer`, `GET /v2/models/<name>/ready`) for *any* model name, with an
SVC trained at start-up on scikit-learn's bundled iris data (as the reference model was), so
`{"instances": [[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}` gets `{"predictions": [1, 1]}`.

    python -m sandbox.modelserver --port 8767

prints its URL as the first line of standard output once it answers (logs go to standard
error) and stops on Ctrl+C or SIGTERM. It listens on 127.0.0.1 only: the `kserve` server
would bind 0.0.0.0, so the socket is bound here and handed to it; gRPC stays off.

Importing this module does not import `kserve` (heavy, and an optional extra): that happens
when the server is built.
"""

from __future__ import annotations

import argparse
import copy
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

import httpx

#: The reference platform's example request and the answer it documents.
EXAMPLE_INSTANCES = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
EXAMPLE_PREDICTIONS = [1, 1]
#: Model wrappers kept for names seen recently; past this the oldest are dropped (they are
#: recreated on the next request, sharing the one trained classifier).
MAX_NAMES = 10_000


def train_iris_classifier():
    """An SVC on scikit-learn's bundled iris data, as the reference model was trained."""
    from sklearn import datasets, svm

    features, labels = datasets.load_iris(return_X_y=True)
    return svm.SVC(gamma="scale").fit(features, labels)


def build_model_server(port: int):
    """A `kserve.ModelServer` (gRPC off) whose repository answers for every model name.

    Returns the server and its REST server, not yet serving.
    """
    saved_argv = sys.argv
    # kserve's model_server module parses the process's arguments when imported: keep ours
    # away from it.
    sys.argv = saved_argv[:1]
    try:
        import kserve
        from kserve import logging as kserve_logging
        from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
        from kserve.errors import InvalidInput
        from kserve.model_repository import ModelRepository
        from kserve.protocol.infer_type import InferRequest
        from kserve.protocol.rest.server import RESTServer
        from kserve.utils.utils import get_predict_input, get_predict_response
    finally:
        sys.argv = saved_argv

    # kserve writes the access log to standard output; the first line there is our URL.
    config = copy.deepcopy(kserve_logging.KSERVE_LOG_CONFIG)
    config["handlers"]["uvicorn_access"]["stream"] = "ext://sys.stderr"
    kserve_logging.configure_logging(config)

    class IrisModel(kserve.Model):
        """KServe's scikit-learn server, reduced to what the iris example needs."""

        def __init__(self, name: str, classifier):
            super().__init__(name)
            self.classifier = classifier
            self.ready = True

        def load(self) -> bool:
            self.ready = True
            return self.ready

        def predict(self, payload, headers=None):
            if not isinstance(payload, dict | InferRequest):
                raise InvalidInput("send a JSON object with Content-Type: application/json")
            try:
                instances = get_predict_input(payload)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(
                    'expected {"instances": [[sepal length, sepal width, petal length, petal width], ...]} '
                    f"(V1) or one FP32 input of shape [n, 4] (V2): {exc}"
                ) from exc
            try:
                result = self.classifier.predict(instances)
            except ValueError as exc:
                raise InvalidInput(f"each instance needs 4 numbers (sepal and petal length and width): {exc}") from exc
            return get_predict_response(payload, result, self.name)

    class EveryNameRepository(ModelRepository):
        """Every name is a loaded iris model: one shared classifier behind each endpoint's name."""

        def __init__(self, classifier):
            super().__init__(models_dir="/nonexistent")
            self.classifier = classifier
            self.models: OrderedDict[str, Any] = OrderedDict()
            self._lock = threading.Lock()

        def get_model(self, name: str):
            with self._lock:
                model = self.models.get(name)
                if model is None:
                    model = self.models[name] = IrisModel(name, self.classifier)
                    while len(self.models) > MAX_NAMES:
                        self.models.popitem(last=False)
                else:
                    self.models.move_to_end(name)
                return model

        def load_models(self):  # nothing on disk: models appear when asked for
            pass

    repository = EveryNameRepository(train_iris_classifier())
    repository.get_model("sklearn-iris")  # `GET /v1/models` lists one model, as a fresh server does
    server = kserve.ModelServer(http_port=port, enable_grpc=False, registered_models=repository, workers=1)
    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        server.dataplane,
        server.model_repository_extension,
        port,
        workers=1,
        grace_period=2,
    )
    rest.config.host = "127.0.0.1"
    return server, rest


def wait_until_answering(url: str, timeout: float = 60.0) -> bool:
    """Whether the server's readiness (`GET /v2/health/ready`) answered 200 within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.modelserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    args = parser.parse_args(argv)

    # Bound here, on the loopback interface only, and handed to uvicorn as is.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", args.port))
    except OSError as exc:
        parser.error(f"--port {args.port}: cannot listen on 127.0.0.1:{args.port} ({exc.strerror})")
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        _server, rest = build_model_server(port)
    except ImportError as exc:
        print(f"the sandbox model server needs the kserve extra (kserve, scikit-learn, joblib): {exc}; "
              "install it with: pip install -e '.[kserve]'", file=sys.stderr)
        return 1

    def announce() -> None:
        if wait_until_answering(url):
            print(url, flush=True)
            print(f"sandbox model server (KServe, iris SVC) at {url}: every model name answers "
                  "V1 /v1/models/<name>:predict and V2 /v2/models/<name>/infer; Ctrl+C stops it",
                  file=sys.stderr, flush=True)
        else:
            print(f"the model server at {url} did not answer within 60 s", file=sys.stderr, flush=True)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the
    # handler that was there before it: this one, so a requested stop exits with status 0.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    rest.run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
