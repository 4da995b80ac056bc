"""cgroup v2 in a VM: run time of scripts/vm-cgroup-v2.sh and the IOPS it measured.

``python -m bench.bench_vm_cgroup_v2 [--cold-kernel]``

One run of the script (see sandbox.iomax_vm_driver for what happens inside the VM). With
``--cold-kernel`` the kernel cache is a new empty folder, so the run includes downloading and
unpacking the kernel package; installing qemu and busybox is scripts/setup.sh's part and is
timed separately (see bench/RESULTS.md).
"""

import argparse
import tempfile

from sandbox.iomax_vm import VmReport, run_vm
from sandbox.iomax_vm_driver import LIMIT


def report(vm: VmReport) -> None:
    start = float(vm.one("uptime_python_start"))
    imported = float(vm.one("uptime_imported"))
    end = float(vm.one("uptime_python_end"))
    print(f"script wall time:              {vm.wall_seconds:.1f} s")
    print(f"qemu process wall time:        {int(vm.one('vm_ms')) / 1000:.1f} s")
    print(f"guest boot to chroot:          {start:.1f} s")
    print(f"python start-up and imports:   {imported - start:.1f} s")
    print(f"driver work (mostly IO):       {end - imported:.1f} s")
    for label in ("limited", "cleared"):
        for direction in ("write", "read"):
            run = vm.direct_io(f"{direction}_{label}")
            limit = f" (limit {LIMIT})" if label == "limited" else ""
            print(
                f"{direction} {label:<8} {run.iops:8.1f} IOPS{limit}: "
                f"{run.ios} x 4 KiB direct in {run.seconds * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cold-kernel", action="store_true", help="start from an empty kernel cache"
    )
    args = parser.parse_args()
    if args.cold_kernel:
        with tempfile.TemporaryDirectory(prefix="iops-limiter-vm-cache-") as cache:
            report(run_vm(env={"IOPS_LIMITER_VM_CACHE": cache}))
    else:
        report(run_vm())


if __name__ == "__main__":
    main()
