"""matt-serve on the imagenet bundle: real 224 px images answered, a 32 px one refused, still up.

Run from the repository root after ``matt-export imagenet -o bundles/imagenet``.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np

from matt.data import load_foolbox_samples
from matt.serve.client import MattClient

URL = "http://127.0.0.1:8200"
LOG = "/tmp/serve-imagenet.log"


def main() -> None:
    with open(LOG, "w") as log:
        server = subprocess.Popen([".venv/bin/matt-serve", "bundles/imagenet", "--http-port",
                                   "8200", "--grpc-port", "8201", "--metrics-port", "8202"],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            with open(LOG) as text:
                if "matt-serve: ready" in text.read():
                    break
            time.sleep(1)
        samples = load_foolbox_samples("imagenet", size=224)
        with MattClient("127.0.0.1:8200") as client:
            began = time.perf_counter()
            labels = client.labels(samples.images[:4].astype(np.float32))
            print("labels", list(labels), "truth", list(samples.labels[:4]),
                  f"{time.perf_counter() - began:.2f} s")
        body = json.dumps({"inputs": [{"name": "images", "shape": [1, 3, 32, 32],
                                       "datatype": "FP32", "data": [0.5] * 3072}]}).encode()
        try:
            urllib.request.urlopen(urllib.request.Request(f"{URL}/v2/models/matt/infer", body),
                                   timeout=30)
            print("32 px: accepted (unexpected)")
        except urllib.error.HTTPError as error:
            print("32 px:", error.code, error.read().decode()[:200])
        print("ready after:", urllib.request.urlopen(f"{URL}/v2/health/ready", timeout=10).status)
    finally:
        server.terminate()
        print("exit", server.wait(60))


if __name__ == "__main__":
    main()
