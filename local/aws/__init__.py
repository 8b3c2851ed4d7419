"""The AWS emulator: moto in a process of its own, the fixes it runs with, and the resources it is provisioned with."""
