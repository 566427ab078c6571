"""The optional model (issue 22): an OpenAI-compatible chat endpoint and the checks its replies must pass.

Below every feature that may use it (assistant, exits, churn); it imports nothing of the bot's but settings.
"""
