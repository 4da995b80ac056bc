# One image for both halves: the controller Deployment runs `iops-controller run`, the node
# writer DaemonSet runs `iops-node-writer run` (which never imports pandas, so it stays small).
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY node_writer ./node_writer
COPY iops_limit ./iops_limit
COPY sandbox ./sandbox
RUN pip install --no-cache-dir . && rm -rf /src

COPY rules /etc/iops-limit/rules
WORKDIR /
# The controller runs as this user; the node writer's manifest asks for root to write the
# host's root-owned cgroup files (with every capability dropped).
USER 65532:65532
