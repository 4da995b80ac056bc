"""Real local stand-ins for a cluster: a fake Kubernetes API, a cAdvisor exporter, process
launchers for Prometheus and Alertmanager, and the end-to-end demo. Used by tests, benchmarks
and the README's first command; never by the controller or the node writer themselves.
"""
