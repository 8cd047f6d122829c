"""Flash sales: a crowd enters at once, a queue levels it, workers decide who wins."""
