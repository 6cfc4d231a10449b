"""Speaker profiles: the single-file `.prof` container and what goes in it."""
