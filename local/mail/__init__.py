"""The mail relay on one machine: an SMTP sink that keeps every message as a file."""
