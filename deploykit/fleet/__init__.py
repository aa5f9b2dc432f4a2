"""Fleet benchmarking: one suite measured on many devices that joined a Ray cluster.

Each device runs ``deploykit agent`` (``agent``): a Ray worker node with no
general CPUs and a custom resource naming the device, plus a small detached
actor that publishes the device's environment capture (``inventory`` lists
them). ``scheduler`` runs every (artifact, backend, batch, device) cell as a Ray
task pinned to its device, one at a time per device, in a fresh worker process
that reuses the local per-cell isolation (``remote``); artifacts travel through
Ray's object store with their sha256 checked on arrival (``transfer``), and
TensorRT engines are built on the device and cached (``engines``). Ray is the
``fleet`` extra; nothing here imports it at module import time.
"""
