"""Integrations of codever with other tools (``codever.integrations.wandb``)."""
