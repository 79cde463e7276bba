"""The ICM algorithm as pure Python: data model, consistency rules, objective, schedules, search.

Nothing here imports torch, Streamlit or touches files; models are reached only through `Scorer`.
"""
