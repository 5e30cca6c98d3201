"""Brokers: what carries committed messages from the node that stored them to the others."""
