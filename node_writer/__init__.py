"""The node half (a DaemonSet): Pod annotations -> cgroup IO limits on the node's NVMe disk.

It must stay small: no pandas, no rule engine.
"""
