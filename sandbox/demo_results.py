"""What the demo leaves behind: the controller's report, Alertmanager's webhook payloads,
measurements.json and the summary."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.demo_cgroups import CgroupTree, Device
from sandbox.demo_cluster import PROJECT_ROOT, DemoCluster
from sandbox.demo_record import ContainerRecord, noisy_figures


def measurements_of(
    tree: CgroupTree,
    device: Device,
    why_simulated: str | None,
    rules: Path,
    records: list[ContainerRecord],
) -> dict[str, Any]:
    """measurements.json: what the test checks and the closing summary prints."""
    return {
        "mode": "simulated" if tree.simulated else "real",
        "why_simulated": why_simulated,
        "cgroup_version": tree.version,
        "device": device.key,
        "rules": str(rules),
        "cgroup_top": str(tree.top) if tree.top else None,
        "noisy": noisy_figures(records[0]),
        "containers": {
            record.name: {
                "limits_seen": record.limits_seen,
                "detected_at": record.detected_at,
                "annotated_at": record.annotated_at,
                "limited_at": record.limited_at,
                "released_at": record.released_at,
                "per_second": record.per_second(),
            }
            for record in records
        },
    }


def run_report(cluster: DemoCluster, out_dir: Path, why_simulated: str | None) -> tuple[Path, bool]:
    """``iops-controller report`` over the demo's cluster and Prometheus, saved to report.txt;
    whether it worked. A failed report is shown in the file instead: the rest of the demo's
    results stay worth seeing."""
    path = out_dir / "report.txt"
    done = subprocess.run(
        [sys.executable, "-m", "controller", "report", "--format", "text", "--since", "1h"],
        capture_output=True,
        text=True,
        env=cluster.controller_env(),
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    label = "" if why_simulated is None else f"SIMULATED cgroups ({why_simulated})\n\n"
    if done.returncode != 0:
        failure = f"iops-controller report failed ({done.returncode}):\n{done.stderr[-2000:]}"
        path.write_text(label + failure)
        return path, False
    path.write_text(label + done.stdout)
    return path, True


def save_webhook_payloads(cluster: DemoCluster, out_dir: Path) -> Path:
    """Every payload the demo's Alertmanager delivered to its webhook, as a JSON list in
    delivery order (``jq -c '.[]'`` replays them one per line into another receiver)."""
    path = out_dir / "alertmanager-webhook.json"
    path.write_text(json.dumps(cluster.webhook.payloads(), indent=2, ensure_ascii=False) + "\n")
    return path


def print_summary(measurements: dict[str, Any], out_dir: Path) -> None:
    noisy = measurements["noisy"]
    label = " (SIMULATED)" if measurements["mode"] == "simulated" else ""
    print(Path(measurements["report"]).read_text())

    def number(key: str, unit: str) -> str:
        value = noisy.get(key)
        return "n/a" if value is None else f"{value:.1f} {unit}"

    print(f"\nnoisy container {noisy['container']}{label}:")
    print(f"  write IOPS before the limit:      {number('write_iops_before_limit', 'IOPS')}")
    print(f"  limit written:                    {noisy['limit_iops']} IOPS")
    print(f"  write IOPS under the limit:       {number('write_iops_under_limit', 'IOPS')}")
    print(f"  load start -> limit written:      {number('seconds_to_limit', 's')}")
    print(f"  load stop -> limit released:      "
          f"{number('seconds_from_load_stop_to_release', 's')}")  # fmt: skip
    if not measurements["report_ok"]:
        print("\nWARNING: the report failed; see above")
    print(f"\nchart:        {measurements['chart']}")
    print(f"webhook:      {measurements['webhook']}")
    print(f"report:       {measurements['report']}")
    print(f"measurements: {out_dir / 'measurements.json'}")
    print(f"logs:         {out_dir / 'logs'}")
