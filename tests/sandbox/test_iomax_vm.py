"""The host side of the cgroup v2 VM run: parsing its RESULT lines, and the driver's disk guard."""

import pytest

from sandbox.iomax_vm import DirectIO, VmReport, VmRunFailed, parse_results
from sandbox.iomax_vm_driver import DriverError, check_scratch_disk

CONSOLE = """\
[    0.912] virtio_blk virtio1: [vda] 131072 512-byte logical blocks
RESULT device 254:0
RESULT write_limited ios=400 seconds=3.920 iops=102.0
RESULT written 254:0 riops=100 wiops=100
RESULT written 254:0 riops=max wiops=max
RESULT iomax_cleared (empty)
RESULTS are not results
RESULT end
"""


def test_result_lines_are_read_by_key_in_order_and_other_console_lines_ignored() -> None:
    report = VmReport(parse_results(CONSOLE), wall_seconds=1.0)
    assert report.one("device") == "254:0"
    assert report.all("written") == ("254:0 riops=100 wiops=100", "254:0 riops=max wiops=max")
    assert report.one("iomax_cleared") == "(empty)"
    assert report.direct_io("write_limited") == DirectIO(400, 3.92)
    assert report.direct_io("write_limited").iops == pytest.approx(102.04, abs=0.01)
    assert "RESULTS" not in report.results and "are" not in report.results


def test_a_missing_or_repeated_result_is_an_error_naming_the_key() -> None:
    report = VmReport(parse_results(CONSOLE), wall_seconds=1.0)
    with pytest.raises(VmRunFailed, match="one RESULT read_limited line, got 0"):
        report.one("read_limited")
    with pytest.raises(VmRunFailed, match="one RESULT written line, got 2"):
        report.one("written")


def test_the_driver_refuses_to_overwrite_a_disk_that_is_not_the_vm_scratch_disk() -> None:
    with pytest.raises(DriverError, match=r"refusing to overwrite /dev/nosuchdisk: its serial"):
        check_scratch_disk("/dev/nosuchdisk")
