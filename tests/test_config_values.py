"""config_values: booleans and numbers of options mean what they say, or a one-line error."""

import pytest

from sowcast.config_values import flag, number, whole, with_flags
from sowcast.errors import SowcastError


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (1, True), (0, False),
    ("true", True), ("FALSE", False), ("yes", True), ("No", False), ("on", True), (" off ", False),
    ("1", True), ("0", False),
])
def test_flag_words(value, expected):
    assert flag(value, "overwrite") is expected


@pytest.mark.parametrize("value", ["maybe", "nope", "", "2", 2, -1, 0.5, None, [], "truee"])
def test_flag_refuses_the_rest_naming_the_key(value):
    with pytest.raises(SowcastError, match=r"^overwrite must be true or false") as info:
        flag(value, "overwrite")
    assert "\n" not in str(info.value)


def test_numbers():
    assert number("1.5", "k") == 1.5 and number(2, "k", 0, 2) == 2.0
    assert whole("8", "k") == 8 and whole(3.0, "k", 1) == 3
    for bad in ("abc", None, True, "nan", float("inf"), [1]):
        with pytest.raises(SowcastError, match="^k must be a number"):
            number(bad, "k")
    for bad in ("abc", 1.5, "2.5", False):
        with pytest.raises(SowcastError, match="^k must be a whole number"):
            whole(bad, "k")
    with pytest.raises(SowcastError, match="^k must be at least 1, not 0"):
        whole(0, "k", 1)
    with pytest.raises(SowcastError, match="^k must be between 0.05 and 3600, not 0"):
        number(0, "k", 0.05, 3600)


def test_with_flags_parses_in_place_and_leaves_null_alone():
    section = {"keep_daily": "no", "spinning": None, "members": 4}
    assert with_flags(section, "hindcast.", "keep_daily", "spinning", "absent") is section
    assert section == {"keep_daily": False, "spinning": None, "members": 4}
    with pytest.raises(SowcastError, match="^hindcast.keep_daily must be true or false"):
        with_flags({"keep_daily": "maybe"}, "hindcast.", "keep_daily")
