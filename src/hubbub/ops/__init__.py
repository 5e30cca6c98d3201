"""The operations page's data: per-second samples of every node, kept for 15 minutes.

``histogram.py`` and ``sample.py`` are pure (counters in, samples and their merge out);
``probes.py`` measures the event loop and the garbage collector, ``limits.py`` reads the
process's limits, ``exchange.py`` carries samples between nodes over Redis, and
``recorder.py`` ties them to a node's life cycle.
"""
