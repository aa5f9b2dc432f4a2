"""Fleet benchmarking: one suite measured on many devices that joined a Ray cluster.

Each device runs ``deploykit agent`` (``agent``): a Ray worker node with no
general CPUs and a custom resource naming the device, plus a small detached
actor that publishes the device's environment capture (``inventory`` lists
them, ``listing`` prints them). ``request`` declares the fleet options and
``columns`` turns device names, patterns and pools into the sweep's device axis.
``scheduler`` runs every (artifact, backend, batch, device) cell as a Ray task
pinned to its device, one at a time per device, in a fresh worker process that
reuses the local per-cell isolation (``remote``); artifacts travel through Ray's
object store with their sha256 checked on arrival (``transfer``), and TensorRT
engines are built on the device and cached (``engines``). ``cluster`` connects
with one-line errors; ``local`` starts a loopback cluster for trying it, tests
and benchmarks. Ray is the ``fleet`` extra; nothing here imports it at import time.
"""
