"""SearchConfig: the paper's defaults, help and choices for the CLI and app, and validation at each bound."""

from __future__ import annotations

import dataclasses
import re

import pytest

from icm_app.core.config import P_MODES, SCHEDULE_NAMES, SearchConfig

PAPER_DEFAULTS = {
    "alpha": 50.0, "k_init": 8, "t0": 10.0, "t_min": 0.01, "beta": 0.99, "schedule": "log", "iterations": 200,
    "fix_rounds": 10, "seed": 0, "p_mode": "mean_logodds", "calibrate": False, "group_weight": 100.0,
    "min_share": None, "max_share": None, "proportion_weight": 50.0,
}  # fmt: skip


def test_defaults_are_the_papers_and_the_extensions_are_off():
    assert SearchConfig().to_dict() == PAPER_DEFAULTS


def test_every_field_has_help_and_the_named_choices():
    """The CLI options and the app's help texts are generated from this metadata."""
    for f in dataclasses.fields(SearchConfig):
        assert isinstance(f.metadata["help"], str) and len(f.metadata["help"]) > 20, f.name
    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(SearchConfig)}
    assert choices.pop("schedule") == SCHEDULE_NAMES == ("log", "exp")
    assert choices.pop("p_mode") == P_MODES == ("mean_logodds", "sum_logprob")
    assert set(choices.values()) == {None}
    assert "rule_violations" in SearchConfig.__dataclass_fields__["alpha"].metadata["help"]


# (settings, the exact message; None: accepted). Each bound is tried on both sides.
CASES = [
    ({"alpha": 0.0}, "SearchConfig.alpha=0.0: must be > 0"),
    ({"alpha": 1e-9}, None),
    ({"k_init": 0}, "SearchConfig.k_init=0: must be >= 1"),
    ({"k_init": 1}, None),
    ({"t0": 0.0, "t_min": 0.0}, "SearchConfig.t0=0.0: must be > 0"),
    ({"t_min": 0.0}, "SearchConfig.t_min=0.0: must be in (0, t0]"),
    ({"t_min": 10.5}, "SearchConfig.t_min=10.5: must be in (0, t0]"),
    ({"t_min": 10.0}, None),
    ({"t0": 1e-3, "t_min": 1e-3}, None),
    ({"beta": 0.0}, "SearchConfig.beta=0.0: must be > 0"),
    ({"beta": 5.0}, None),
    ({"iterations": -1}, "SearchConfig.iterations=-1: must be >= 0"),
    ({"iterations": 0}, None),
    ({"fix_rounds": -1}, "SearchConfig.fix_rounds=-1: must be >= 0"),
    ({"fix_rounds": 0}, None),
    ({"group_weight": 0.0}, "SearchConfig.group_weight=0.0: must be > 0"),
    ({"group_weight": 1e-9}, None),
    ({"proportion_weight": -0.5}, "SearchConfig.proportion_weight=-0.5: must be >= 0"),
    ({"proportion_weight": 0.0}, None),
    ({"schedule": "cosine"}, "SearchConfig.schedule='cosine': must be one of log, exp"),
    ({"p_mode": "median"}, "SearchConfig.p_mode='median': must be one of mean_logodds, sum_logprob"),
    ({"schedule": "exp", "beta": 1.0}, "SearchConfig.beta=1.0: must be < 1 for the exp schedule"),
    ({"schedule": "exp", "beta": 0.999}, None),
    ({"schedule": "log", "beta": 1.0}, None),
    ({"min_share": -0.01}, "SearchConfig.min_share=-0.01: must be in [0, 1]"),
    ({"min_share": 1.01}, "SearchConfig.min_share=1.01: must be in [0, 1]"),
    ({"max_share": -0.01}, "SearchConfig.max_share=-0.01: must be in [0, 1]"),
    ({"max_share": 1.01}, "SearchConfig.max_share=1.01: must be in [0, 1]"),
    ({"min_share": 0.0, "max_share": 1.0}, None),
    ({"min_share": 1.0}, None),
    ({"max_share": 0.0}, None),
    ({"min_share": 0.6, "max_share": 0.4}, "SearchConfig.min_share=0.6: must be <= max_share"),
    ({"min_share": 0.5, "max_share": 0.5}, None),
]


@pytest.mark.parametrize(("settings", "message"), CASES)
def test_validation_names_the_field_and_the_bad_value(settings, message):
    if message is None:
        assert SearchConfig(**settings).to_dict() == {**PAPER_DEFAULTS, **settings}
    else:
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            SearchConfig(**settings)


def test_from_dict_round_trips_and_lists_unknown_settings_sorted():
    config = SearchConfig(alpha=20.0, schedule="exp", beta=0.9, min_share=0.3)
    assert SearchConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"^unknown search settings: temperature, zeta$"):
        SearchConfig.from_dict({**config.to_dict(), "zeta": 1, "temperature": 2})
