"""Task presets and prompt templates: how examples become prompts, label words and consistency keys."""
