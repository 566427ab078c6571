"""Ask healthbot (issue 22): questions in the assistant pane, DMs and mentions, Brief me, outreach drafts.

Every answer is built from the bot's own data first, deterministically (`answers`, `brief`, `draft`); a model,
when one is configured, may only reword it (`compose`) and is checked against the same facts.
"""
