"""Checking ICM's labels: held-out accuracy of in-context learning with them, and whether the concept is salient."""
