"""Network definitions: the fusion net, the hybrid backbone, logits to probabilities."""
