"""Campaign files: the schema's one-line errors (file, line, key) and the examples shipped."""

from __future__ import annotations

import pytest

from instruments.bench import load_bench_config
from procedures.campaign import CampaignError, load_campaign, parse_campaign
from procedures.campaign.model import CAMPAIGN_DIR

GOOD = """\
name = "t"

[target]
lot = "L"
wafer_id = "W"
die = [9, 9]

[schedule]
kind = "temperature"
set_points_c = [25, 100]
soak_s = 10

[[measurements]]
name = "map"
procedure = "conductance-map"
cells = "0,0-3"
params = { pattern = "checkerboard", form_first = true }

[[limits]]
figure = "map.window"
min = 2
action = "pause"
"""


def _error(text: str) -> CampaignError:
    with pytest.raises(CampaignError) as info:
        c = parse_campaign(text, "c.toml")
        c.validate(load_bench_config("simulated").limits)
    return info.value


def test_good_campaign_parses_into_steps_and_units():
    c = parse_campaign(GOOD, "c.toml")
    assert c.schedule.n_steps() == 2 and c.schedule.set_point(1) == 100.0
    assert c.units() == [(0, 0), (1, 0)]
    assert c.measurements[0].die == (9, 9)
    assert c.limits[0].violated(1.5) == "map.window = 1.5 < min 2"
    assert c.limits[0].violated(3.0) == "" and c.limits[0].violated(None) == ""
    c.validate(load_bench_config("simulated").limits)


@pytest.mark.parametrize(("old", "new", "line", "key", "words"), [
    ('kind = "temperature"', 'kind = "oven"', 9, "schedule.kind", "temperature"),
    ("set_points_c = [25, 100]", "set_points_c = [25, 900]", 10, "schedule.set_points_c[1]",
     "300"),
    ("soak_s = 10", "soak_s = -1", 11, "schedule.soak_s", ">= 0"),
    ("soak_s = 10", "soak_s = 10\nevery_min = 5", 12, "schedule.every_min", "monitor"),
    ('procedure = "conductance-map"', 'procedure = "nope"', 15, "measurements[0].procedure",
     "unknown procedure"),
    ("form_first = true", "form_first = true, v_read = 9.0", 17,
     "measurements[0].params.v_read", "v_read"),
    ("form_first = true", "form_first = true, colour = 1", 17,
     "measurements[0].params.colour", "unknown parameter"),
    ('cells = "0,0-3"', 'cells = "0,0-99"', 16, "measurements[0].cells", ""),
    ('figure = "map.window"', 'figure = "ber.window"', 20, "limits[0].figure", "map"),
    ('action = "pause"', 'action = "panic"', 22, "limits[0].action", "pause"),
    ("min = 2", "", 19, "limits[0].max", "min, max"),
    ("[target]", "[targets]", 3, "targets", "unknown key"),
    ('lot = "L"', 'lot = "../x"', 4, "target.lot", ""),
])
def test_bad_campaign_one_line_with_file_line_and_key(old, new, line, key, words):
    assert old in GOOD
    err = _error(GOOD.replace(old, new, 1))
    text = str(err)
    assert "\n" not in text
    assert err.line == line and err.key == key, text
    assert text.startswith(f"c.toml:{line}: {key}: "), text
    assert words in text


def test_limit_beyond_the_bench_is_refused_before_anything_is_applied():
    hot = GOOD.replace("set_points_c = [25, 100]", "set_points_c = [25, 100]\n"
                       "safe_temperature_c = 260")
    limits = load_bench_config("simulated").limits
    assert limits.max_chuck_temperature < 260  # within the chuck's rating, over the bench's
    with pytest.raises(CampaignError) as info:
        parse_campaign(hot, "c.toml").validate(limits)
    assert info.value.key == "schedule.safe_temperature_c" and info.value.line == 11


def test_not_toml_and_unknown_name():
    err = _error("name = \n")
    assert err.line == 1 and "not valid TOML" in str(err)
    with pytest.raises(CampaignError, match="known: .*temperature-demo"):
        load_campaign("no-such-campaign")


@pytest.mark.parametrize("path", sorted(CAMPAIGN_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_examples_are_valid_on_the_simulated_bench(path):
    c = load_campaign(path)
    c.validate(load_bench_config("simulated").limits)
    assert c.units()
