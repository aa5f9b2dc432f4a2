"""Fleet benchmarking: one suite measured on many devices that joined a Ray cluster.

Each device runs ``deploykit agent`` (``agent``): a Ray worker node with no
general CPUs and a custom resource naming the device, plus a small detached
actor that publishes the device's environment capture (``inventory`` lists
them, ``listing`` prints them). ``request`` declares the fleet options and
``columns`` turns device names, patterns and pools into the sweep's device axis.
``scheduler`` checks a sweep and ``sweep`` runs it: every (artifact, backend,
device) group is one Ray task pinned to its device, one at a time per device, in
a fresh worker process that measures all its batch sizes in one local isolation
worker (``remote``) and reports each cell to the driver's ``mailbox`` as it
finishes; artifacts travel through Ray's object store (``payloads``) with their
sha256 checked on arrival and against their manifest (``transfer``), and TensorRT
engines are built on the device and cached (``engines``). Every blocking call the
driver makes has a deadline (``deadline``). ``cluster`` connects
with one-line errors; ``local`` starts a loopback cluster for trying it, tests
and benchmarks. Ray is the ``fleet`` extra; nothing here imports it at import time.
"""
