import platform

from controller.memory import tune_malloc


def test_malloc_is_tuned_under_glibc_and_skipped_elsewhere() -> None:
    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")
