import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from iops_limit.kube import Conflict, Expired, KubeError, NotFound, Unavailable, call


def fail_with(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, NotFound),
        (409, Conflict),
        (422, Conflict),
        (410, Expired),
        (429, Unavailable),
        (500, Unavailable),
        (503, Unavailable),
        (403, KubeError),
    ],
)
def test_api_statuses_become_our_error_classes(status: int, expected: type[KubeError]) -> None:
    with pytest.raises(expected) as raised:
        call("patch pod ns/web", fail_with, ApiException(status=status, reason="Nope"))
    assert type(raised.value) is expected
    assert raised.value.status == status
    assert str(raised.value) == f"patch pod ns/web: HTTP {status} Nope"


def test_a_dropped_connection_is_unavailable_and_names_the_call() -> None:
    error = urllib3.exceptions.ProtocolError("Connection aborted")
    with pytest.raises(Unavailable, match=r"^list pods: ProtocolError: Connection aborted"):
        call("list pods", fail_with, error)


def test_errors_that_are_not_the_clients_pass_through_untouched() -> None:
    with pytest.raises(ZeroDivisionError):
        call("divide", fail_with, ZeroDivisionError("bug"))


def test_a_client_error_quoting_the_server_url_hides_its_user_info() -> None:
    bad = urllib3.exceptions.LocationParseError("http://admin:pa55@api.example:6443x")
    with pytest.raises(Unavailable) as raised:
        call("list pods", fail_with, bad)
    assert "pa55" not in str(raised.value)
    assert "http://***@api.example:6443x" in str(raised.value)
