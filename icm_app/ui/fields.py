"""How each config field appears in the app: its human label and its group (Model, Search, Advanced, and
Server for server-only options). Help texts and choices stay with the fields themselves (core/config.py,
scoring/models.py), where the CLI reads them too; the CLI option is the field's name."""

from __future__ import annotations

# field name -> (label, group)
SEARCH_FIELDS = {
    "iterations": ("Iterations (empty: automatic)", "Search"),
    "seed": ("Seed", "Search"),
    "restarts": ("Restarts (independent chains)", "Search"),
    "alpha": ("α: weight of mutual predictability", "Search"),
    "k_init": ("K: examples labeled at the start", "Search"),
    "init": ("How the K starting labels are chosen", "Advanced"),
    "calibrate": ("Contextual calibration", "Search"),
    "min_share": ("Lowest share of label 1 (empty: off)", "Search"),
    "max_share": ("Highest share of label 1 (empty: off)", "Search"),
    "complete": ("Label the rest after the last iteration", "Search"),
    "t0": ("Initial temperature T₀", "Advanced"),
    "t_min": ("Final temperature T_min", "Advanced"),
    "beta": ("Cooling rate β", "Advanced"),
    "schedule": ("Temperature schedule", "Advanced"),
    "fix_rounds": ("ConsistencyFix rounds per iteration", "Advanced"),
    "p_mode": ("How P is computed", "Advanced"),
    "group_weight": ("Sampling weight of group members", "Advanced"),
    "proportion_weight": ("Cost per label outside the share bounds", "Advanced"),
    "swap_prob": ("Probability of a balance-keeping swap", "Advanced"),
}
SCORER_FIELDS = {
    "model": ("Model: bundled, a Hugging Face id or folder, or openai:URL", "Model"),
    "device": ("Device", "Model"),
    "dtype": ("Precision", "Model"),
    "scoring": ("Scoring path", "Advanced"),
    "tree_tokens": ("Tokens per packed forward call (0: automatic)", "Advanced"),
    "cache_mb": ("Prefix cache (MB)", "Advanced"),
    "adapter": ("LoRA adapter folder (empty: none)", "Advanced"),
    "model_name": ("Served model name", "Server"),
    "api_key_env": ("Environment variable holding the API key", "Server"),
    "top_logprobs": ("Top log-probs asked per request", "Server"),
    "max_in_flight": ("Requests in flight at once", "Server"),
}
GROUPS = ("Model", "Search", "Advanced", "Server")
