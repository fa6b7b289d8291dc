"""ciliumtui: a terminal troubleshooter for Kubernetes nodes whose Cilium networking is broken."""

__version__ = "0.1.0"
