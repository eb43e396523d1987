"""The three gates as pure decisions over a policy bundle: Casbin, state law, warrant."""
