from iops_limit.redact import mask_secrets, mask_userinfo


def test_user_info_is_masked_in_every_url_of_a_text() -> None:
    text = "a http://user:pa55@host:9090/prefix and https://tok@other/ b"
    assert mask_userinfo(text) == "a http://***@host:9090/prefix and https://***@other/ b"


def test_urls_without_user_info_and_email_like_text_after_a_path_are_left_alone() -> None:
    text = "http://host:9090/api/v1/query?q=a@b and ops@example.com"
    assert mask_userinfo(text) == text


def test_secret_values_are_masked_longest_first() -> None:
    text = "header Bearer abc123 and abc123 alone, team-a"
    shown = mask_secrets(text, ["abc123", "Bearer abc123", "team-a", ""])
    assert shown == "header *** and *** alone, ***"
