"""The work of ``orders``' commands other than ``up`` (``local.cli`` parses and dispatches)."""
