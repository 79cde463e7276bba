"""SearchConfig: the paper's defaults, help and choices for the CLI and app, and validation at each bound."""

from __future__ import annotations

import dataclasses
import re

import pytest

from icm_app.core.config import INITS, P_MODE_NAMES, SCHEDULE_NAMES, SearchConfig

PAPER_DEFAULTS = {
    "alpha": 50.0, "k_init": 8, "init": "random", "t0": 10.0, "t_min": 0.01, "beta": 0.99, "schedule": "log", "iterations": None,
    "fix_rounds": 10, "seed": 0, "p_mode": "mean_logodds", "calibrate": False, "group_weight": 100.0,
    "min_share": None, "max_share": None, "proportion_weight": 50.0,
    # the completion phase is on (every example labeled); swaps and restarts are off
    "complete": True, "swap_prob": 0.0, "restarts": 1,
}  # fmt: skip


def test_defaults_are_the_papers_with_only_the_completion_phase_added():
    assert SearchConfig().to_dict() == PAPER_DEFAULTS


def test_every_field_has_help_and_the_named_choices():
    """The CLI options and the app's help texts are generated from this metadata."""
    for f in dataclasses.fields(SearchConfig):
        assert isinstance(f.metadata["help"], str) and len(f.metadata["help"]) > 20, f.name
    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(SearchConfig)}
    assert choices.pop("schedule") == SCHEDULE_NAMES == ("log", "exp")
    assert choices.pop("p_mode") == P_MODE_NAMES == ("mean_logodds", "sum_logprob")
    assert choices.pop("init") == INITS == ("random", "zero_shot")
    assert set(choices.values()) == {None}
    assert "rule_violations" in SearchConfig.__dataclass_fields__["alpha"].metadata["help"]


# (settings, the exact message; None: accepted). Each bound is tried on both sides.
CASES = [
    ({"alpha": 0.0}, "SearchConfig.alpha=0.0: must be > 0"),
    ({"alpha": 1e-9}, None),
    ({"k_init": 0}, "SearchConfig.k_init=0: must be >= 1"),
    ({"init": "gold"}, "SearchConfig.init='gold': must be one of random, zero_shot"),
    ({"init": "zero_shot"}, None),
    ({"k_init": 1}, None),
    ({"t0": 0.0, "t_min": 0.0}, "SearchConfig.t0=0.0: must be > 0"),
    ({"t_min": 0.0}, "SearchConfig.t_min=0.0: must be in (0, t0]"),
    ({"t_min": 10.5}, "SearchConfig.t_min=10.5: must be in (0, t0]"),
    ({"t_min": 10.0}, None),
    ({"t0": 1e-3, "t_min": 1e-3}, None),
    ({"beta": 0.0}, "SearchConfig.beta=0.0: must be > 0"),
    ({"beta": 5.0}, None),
    ({"iterations": -1}, "SearchConfig.iterations=-1: must be >= 0 or unset"),
    ({"iterations": 0}, None),
    ({"swap_prob": -0.01}, "SearchConfig.swap_prob=-0.01: must be in [0, 1]"),
    ({"swap_prob": 1.01}, "SearchConfig.swap_prob=1.01: must be in [0, 1]"),
    ({"swap_prob": 0.0}, None),
    ({"swap_prob": 1.0}, None),
    ({"restarts": 0}, "SearchConfig.restarts=0: must be >= 1"),
    ({"restarts": 1}, None),
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


def test_automatic_iterations_are_n_times_the_harmonic_number_with_a_floor():
    from icm_app.core.config import MIN_AUTO_ITERATIONS, default_iterations, iterations_reason

    assert MIN_AUTO_ITERATIONS == 50
    assert default_iterations(32) == 130  # 32 * H_32 = 129.87
    assert default_iterations(64) == 304  # 64 * H_64 = 303.6
    assert default_iterations(256) == 1568
    assert default_iterations(4) == 50 and default_iterations(18) == 63  # 18 * H_18 = 62.4
    assert default_iterations(1) == 50 and default_iterations(0) == 50
    assert SearchConfig().resolved(32).iterations == 130
    assert SearchConfig(iterations=7).resolved(32).iterations == 7
    assert SearchConfig(iterations=0).resolved(32).iterations == 0
    assert iterations_reason(32) == (
        "iterations 130 (automatic: N*H_N for N = 32, the expected number of uniform draws before every example "
        "has been proposed once, at least 50; the paper runs thousands for 256 examples; --iterations sets it)"
    )
