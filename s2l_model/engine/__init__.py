"""Training: presets, the trainer loop with checkpoints, budgets and resumption."""
