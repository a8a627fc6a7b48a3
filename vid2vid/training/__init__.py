"""Training: one vid2vid step and loop, curricula, checkpoints, EMA (with Accelerate)."""
