"""The locust load harness: a client of the Order API (HTTP only, and the committed contract
samples read as data), run by ``orders load SCENARIO`` or ``python -m load SCENARIO``."""
