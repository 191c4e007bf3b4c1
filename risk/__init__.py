"""Risk engine: detections, levels and aggregation for each sign-in (pure library)."""
