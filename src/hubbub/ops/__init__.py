"""The operations page's data: per-second samples of every node, kept for 15 minutes.

``histogram.py`` and ``sample.py`` are pure (counters in, samples and their merge out);
``probes.py`` measures the event loop and the garbage collector, ``limits.py`` reads the
process's limits, and ``exchange.py`` carries samples between nodes over Redis;
``hubbub/recorder.py`` (above the hub and the store it reads) ties them to a node's life
cycle.
"""
